// The server side of MSK IAM access control for the local Apache Kafka target and the tests: a
// SASL/OAUTHBEARER callback handler that accepts exactly the token AWS's MSK IAM signers send
// (base64url, without padding, of a SigV4-presigned `GET https://kafka.<region>.amazonaws.com/
// ?Action=kafka-cluster:Connect&...` URL), recomputes its signature with the secret of the access
// key it names, checks its region, its age and its expiry, and maps the access key to a Kafka
// principal (User:<name>) that the authorizer then checks with ACLs.
//
// Configured by the listener's JAAS entry (scripts/kafka/broker.sh writes it from broker.env):
//   region="eu-west-1"            the only region accepted (host and credential scope)
//   lifetimeSeconds="30"          a token is refused once signed longer ago than this (and after
//                                 its own X-Amz-Expires); the session the broker grants ends then
//   key_<ACCESS_KEY_ID>="secret"  an access key and its secret
//   principal_<ACCESS_KEY_ID>="name"  the principal of that key (default: the key ID)
//   log="/path"                   one line per accepted or refused token, for the tests to count
// Compiled by scripts/install.sh against the target's kafka-clients jar; no other dependency.

package migrate.kafka;

import java.io.FileWriter;
import java.io.IOException;
import java.net.URLDecoder;
import java.nio.charset.StandardCharsets;
import java.security.MessageDigest;
import java.time.Instant;
import java.time.ZoneOffset;
import java.time.format.DateTimeFormatter;
import java.util.ArrayList;
import java.util.Base64;
import java.util.HashMap;
import java.util.List;
import java.util.Map;
import java.util.Set;
import java.util.TreeMap;
import javax.crypto.Mac;
import javax.crypto.spec.SecretKeySpec;
import javax.security.auth.callback.Callback;
import javax.security.auth.callback.UnsupportedCallbackException;
import javax.security.auth.login.AppConfigurationEntry;
import org.apache.kafka.common.security.auth.AuthenticateCallbackHandler;
import org.apache.kafka.common.security.oauthbearer.OAuthBearerToken;
import org.apache.kafka.common.security.oauthbearer.OAuthBearerValidatorCallback;

public class MskIamValidator implements AuthenticateCallbackHandler {
    private static final String SERVICE = "kafka-cluster";
    /** Clocks of the client and the broker may differ this much. */
    private static final long SKEW_MS = 60_000;
    private static final DateTimeFormatter AMZ_DATE =
            DateTimeFormatter.ofPattern("yyyyMMdd'T'HHmmss'Z'").withZone(ZoneOffset.UTC);

    private String region;
    private long lifetimeMs = 900_000;
    private final Map<String, String> secrets = new HashMap<>();
    private final Map<String, String> principals = new HashMap<>();
    private String logPath;

    @Override
    public void configure(Map<String, ?> configs, String mechanism, List<AppConfigurationEntry> entries) {
        if (!"OAUTHBEARER".equals(mechanism) || entries.size() != 1) {
            throw new IllegalArgumentException("MskIamValidator serves OAUTHBEARER with one JAAS entry");
        }
        for (Map.Entry<String, ?> option : entries.get(0).getOptions().entrySet()) {
            String name = option.getKey();
            String value = String.valueOf(option.getValue());
            if (name.equals("region")) region = value;
            else if (name.equals("lifetimeSeconds")) lifetimeMs = Long.parseLong(value) * 1000;
            else if (name.equals("log")) logPath = value;
            else if (name.startsWith("key_")) secrets.put(name.substring(4), value);
            else if (name.startsWith("principal_")) principals.put(name.substring(10), value);
        }
        if (region == null || secrets.isEmpty()) {
            throw new IllegalArgumentException("MskIamValidator needs region=\"...\" and at least one key_<id>=\"secret\"");
        }
    }

    @Override
    public void handle(Callback[] callbacks) throws UnsupportedCallbackException {
        for (Callback callback : callbacks) {
            if (!(callback instanceof OAuthBearerValidatorCallback)) {
                // Extensions: MSK's signers send none, and none are granted.
                throw new UnsupportedCallbackException(callback);
            }
            OAuthBearerValidatorCallback validation = (OAuthBearerValidatorCallback) callback;
            try {
                Token token = validate(validation.tokenValue());
                validation.token(token);
                log("accepted key=" + token.accessKey + " principal=" + token.principalName()
                        + " token=" + fingerprint(validation.tokenValue())
                        + " lifetime_ms=" + (token.lifetimeMs() - System.currentTimeMillis()));
            } catch (Refused refused) {
                log("refused " + refused.getMessage());
                validation.error("invalid_token", null, null);
            }
        }
    }

    private static final class Refused extends Exception {
        Refused(String message) {
            super(message);
        }
    }

    private Token validate(String tokenValue) throws Refused {
        String url;
        try {
            url = new String(Base64.getUrlDecoder().decode(tokenValue), StandardCharsets.UTF_8);
        } catch (IllegalArgumentException e) {
            throw new Refused("not base64url");
        }
        int question = url.indexOf('?');
        if (question < 0) throw new Refused("not a presigned URL");
        String expectedBase = "https://kafka." + region + ".amazonaws.com/";
        if (!url.substring(0, question).equals(expectedBase)) {
            throw new Refused("another host or region: " + url.substring(0, question));
        }
        Map<String, String> params = new TreeMap<>();
        for (String pair : url.substring(question + 1).split("&")) {
            int equals = pair.indexOf('=');
            if (equals < 0) throw new Refused("a query parameter without a value");
            params.put(decode(pair.substring(0, equals)), decode(pair.substring(equals + 1)));
        }
        require(params, "Action", "kafka-cluster:Connect");
        require(params, "X-Amz-Algorithm", "AWS4-HMAC-SHA256");
        require(params, "X-Amz-SignedHeaders", "host");
        String date = present(params, "X-Amz-Date");
        String[] credential = present(params, "X-Amz-Credential").split("/");
        if (credential.length != 5 || !credential[1].equals(date.substring(0, Math.min(8, date.length())))
                || !credential[3].equals(SERVICE) || !credential[4].equals("aws4_request")) {
            throw new Refused("a malformed credential scope");
        }
        if (!credential[2].equals(region)) throw new Refused("signed for another region: " + credential[2]);
        String accessKey = credential[0];
        String secret = secrets.get(accessKey);
        if (secret == null) throw new Refused("an unknown access key (key " + accessKey + ")");

        long signedMs;
        long expiresMs;
        try {
            signedMs = Instant.from(AMZ_DATE.parse(date)).toEpochMilli();
            expiresMs = Long.parseLong(present(params, "X-Amz-Expires")) * 1000;
        } catch (RuntimeException e) {
            throw new Refused("a malformed X-Amz-Date or X-Amz-Expires");
        }
        long now = System.currentTimeMillis();
        long endMs = signedMs + Math.min(expiresMs, lifetimeMs);
        if (signedMs > now + SKEW_MS) throw new Refused("signed in the future");
        if (now >= endMs) throw new Refused("expired " + (now - endMs) + " ms ago (key " + accessKey + ")");

        // SigV4: every query parameter but the signature and the User-Agent the signers append
        // after signing, sorted, each name and value URI-encoded.
        StringBuilder query = new StringBuilder();
        for (Map.Entry<String, String> param : params.entrySet()) {
            if (param.getKey().equals("X-Amz-Signature") || param.getKey().equals("User-Agent")) continue;
            if (query.length() > 0) query.append('&');
            query.append(encode(param.getKey())).append('=').append(encode(param.getValue()));
        }
        String host = "kafka." + region + ".amazonaws.com";
        String canonicalRequest = "GET\n/\n" + query + "\nhost:" + host + "\n\nhost\n" + hex(sha256(""));
        String scope = credential[1] + "/" + region + "/" + SERVICE + "/aws4_request";
        String stringToSign = "AWS4-HMAC-SHA256\n" + date + "\n" + scope + "\n" + hex(sha256(canonicalRequest));
        byte[] key = hmac(("AWS4" + secret).getBytes(StandardCharsets.UTF_8), credential[1]);
        key = hmac(key, region);
        key = hmac(key, SERVICE);
        key = hmac(key, "aws4_request");
        String expected = hex(hmac(key, stringToSign));
        if (!MessageDigest.isEqual(expected.getBytes(StandardCharsets.UTF_8),
                present(params, "X-Amz-Signature").getBytes(StandardCharsets.UTF_8))) {
            throw new Refused("a wrong signature (key " + accessKey + ")");
        }
        String principal = principals.getOrDefault(accessKey, accessKey);
        return new Token(tokenValue, accessKey, principal, signedMs, endMs);
    }

    private static void require(Map<String, String> params, String name, String value) throws Refused {
        if (!value.equals(params.get(name))) throw new Refused(name + " is not " + value);
    }

    private static String present(Map<String, String> params, String name) throws Refused {
        String value = params.get(name);
        if (value == null || value.isEmpty()) throw new Refused("no " + name);
        return value;
    }

    private static String decode(String text) throws Refused {
        try {
            return URLDecoder.decode(text, StandardCharsets.UTF_8);
        } catch (IllegalArgumentException e) {
            throw new Refused("a malformed query");
        }
    }

    /** RFC 3986 encoding as SigV4 wants it: everything but the unreserved characters. */
    private static String encode(String text) {
        StringBuilder out = new StringBuilder();
        for (byte b : text.getBytes(StandardCharsets.UTF_8)) {
            char c = (char) (b & 0xff);
            if ((c >= 'A' && c <= 'Z') || (c >= 'a' && c <= 'z') || (c >= '0' && c <= '9')
                    || c == '-' || c == '_' || c == '.' || c == '~') {
                out.append(c);
            } else {
                out.append(String.format("%%%02X", b & 0xff));
            }
        }
        return out.toString();
    }

    private static byte[] sha256(String text) {
        try {
            return MessageDigest.getInstance("SHA-256").digest(text.getBytes(StandardCharsets.UTF_8));
        } catch (java.security.NoSuchAlgorithmException e) {
            throw new IllegalStateException(e);
        }
    }

    private static byte[] hmac(byte[] key, String data) {
        try {
            Mac mac = Mac.getInstance("HmacSHA256");
            mac.init(new SecretKeySpec(key, "HmacSHA256"));
            return mac.doFinal(data.getBytes(StandardCharsets.UTF_8));
        } catch (java.security.GeneralSecurityException e) {
            throw new IllegalStateException(e);
        }
    }

    private static String hex(byte[] bytes) {
        StringBuilder out = new StringBuilder();
        for (byte b : bytes) out.append(String.format("%02x", b & 0xff));
        return out.toString();
    }

    /** A short, stable name for a token in the log (never the token: it is a credential). */
    private static String fingerprint(String tokenValue) {
        return hex(sha256(tokenValue)).substring(0, 12);
    }

    private synchronized void log(String line) {
        if (logPath == null) return;
        try (FileWriter writer = new FileWriter(logPath, StandardCharsets.UTF_8, true)) {
            writer.write(Instant.now() + " " + line + "\n");
        } catch (IOException e) {
            // The log only serves the tests; authentication does not depend on it.
        }
    }

    @Override
    public void close() {}

    private static final class Token implements OAuthBearerToken {
        private final String value;
        final String accessKey;
        private final String principal;
        private final long startMs;
        private final long lifetimeMs;

        Token(String value, String accessKey, String principal, long startMs, long lifetimeMs) {
            this.value = value;
            this.accessKey = accessKey;
            this.principal = principal;
            this.startMs = startMs;
            this.lifetimeMs = lifetimeMs;
        }

        @Override
        public String value() {
            return value;
        }

        @Override
        public Set<String> scope() {
            return Set.of();
        }

        @Override
        public long lifetimeMs() {
            return lifetimeMs;
        }

        @Override
        public String principalName() {
            return principal;
        }

        @Override
        public Long startTimeMs() {
            return startMs;
        }
    }
}
