
use builtin;
use str;

set edit:completion:arg-completer[migrate] = {|@words|
    fn spaces {|n|
        builtin:repeat $n ' ' | str:join ''
    }
    fn cand {|text desc|
        edit:complex-candidate $text &display=$text' '(spaces (- 14 (wcswidth $text)))$desc
    }
    var command = 'migrate'
    for word $words[1..-1] {
        if (str:has-prefix $word '-') {
            break
        }
        set command = $command';'$word
    }
    var completions = [
        &'migrate'= {
            cand -p 'The migration plan (YAML)'
            cand --plan 'The migration plan (YAML)'
            cand --state-dir 'Where migrate keeps its state [default: the plan''s `state_dir`, else .migrate/<name> beside the plan]'
            cand -o 'Output format: a table for people, or one JSON document on stdout for programs'
            cand --output 'Output format: a table for people, or one JSON document on stdout for programs'
            cand -q 'Print only errors'
            cand --quiet 'Print only errors'
            cand -v 'Print more (-v debug, -vv trace); RUST_LOG overrides'
            cand --verbose 'Print more (-v debug, -vv trace); RUST_LOG overrides'
            cand --yes 'Answer yes to every confirmation'
            cand --strict 'Treat warnings as failures'
            cand -h 'Print help'
            cand --help 'Print help'
            cand -V 'Print version'
            cand --version 'Print version'
            cand init 'Write a commented example plan for the three demo apps'
            cand validate 'Check the plan offline: syntax, fields, references, credentials present'
            cand plan 'Validate, run preflight against both clusters, and list what apply would do; changes nothing'
            cand render 'Write the exact `aws kafka create-replicator` inputs of an msk plan, both directions, and the role''s IAM policies; offline, changes nothing'
            cand apply 'Validate, preflight, then replicate: embedded, in the foreground until SIGINT/SIGTERM; msk, create both MSK Replicators and wait until they run'
            cand status 'Show the running engine''s health (MSK Replicator''s metric names) and where each app runs'
            cand verify 'Compare source and target partition by partition, both directions, up to what is replicated'
            cand cutover 'Move an app to the target: gate, stop, fence, drain, switch, start, verify (resumable)'
            cand rollback 'Move an app back to the source, the same way (resumable; also undoes an unfinished cutover)'
            cand teardown 'Remove what the migration created once every app runs on the target: the replicators (msk) or the engine''s state (embedded); never the clusters or the role, and secrets only with --delete-secrets (only those `apply --create-secret` created)'
            cand completions 'Print a shell completion script'
            cand help 'Print this message or the help of the given subcommand(s)'
        }
        &'migrate;init'= {
            cand --out 'Where to write it [default: the --plan path]'
            cand -p 'The migration plan (YAML)'
            cand --plan 'The migration plan (YAML)'
            cand --state-dir 'Where migrate keeps its state [default: the plan''s `state_dir`, else .migrate/<name> beside the plan]'
            cand -o 'Output format: a table for people, or one JSON document on stdout for programs'
            cand --output 'Output format: a table for people, or one JSON document on stdout for programs'
            cand --force 'Overwrite an existing file'
            cand -q 'Print only errors'
            cand --quiet 'Print only errors'
            cand -v 'Print more (-v debug, -vv trace); RUST_LOG overrides'
            cand --verbose 'Print more (-v debug, -vv trace); RUST_LOG overrides'
            cand --yes 'Answer yes to every confirmation'
            cand --strict 'Treat warnings as failures'
            cand -h 'Print help'
            cand --help 'Print help'
            cand -V 'Print version'
            cand --version 'Print version'
        }
        &'migrate;validate'= {
            cand -p 'The migration plan (YAML)'
            cand --plan 'The migration plan (YAML)'
            cand --state-dir 'Where migrate keeps its state [default: the plan''s `state_dir`, else .migrate/<name> beside the plan]'
            cand -o 'Output format: a table for people, or one JSON document on stdout for programs'
            cand --output 'Output format: a table for people, or one JSON document on stdout for programs'
            cand -q 'Print only errors'
            cand --quiet 'Print only errors'
            cand -v 'Print more (-v debug, -vv trace); RUST_LOG overrides'
            cand --verbose 'Print more (-v debug, -vv trace); RUST_LOG overrides'
            cand --yes 'Answer yes to every confirmation'
            cand --strict 'Treat warnings as failures'
            cand -h 'Print help'
            cand --help 'Print help'
            cand -V 'Print version'
            cand --version 'Print version'
        }
        &'migrate;plan'= {
            cand --timeout 'Bound on each network step (e.g. 10s, 1m; a bare number is seconds)'
            cand -p 'The migration plan (YAML)'
            cand --plan 'The migration plan (YAML)'
            cand --state-dir 'Where migrate keeps its state [default: the plan''s `state_dir`, else .migrate/<name> beside the plan]'
            cand -o 'Output format: a table for people, or one JSON document on stdout for programs'
            cand --output 'Output format: a table for people, or one JSON document on stdout for programs'
            cand -q 'Print only errors'
            cand --quiet 'Print only errors'
            cand -v 'Print more (-v debug, -vv trace); RUST_LOG overrides'
            cand --verbose 'Print more (-v debug, -vv trace); RUST_LOG overrides'
            cand --yes 'Answer yes to every confirmation'
            cand --strict 'Treat warnings as failures'
            cand -h 'Print help'
            cand --help 'Print help'
            cand -V 'Print version'
            cand --version 'Print version'
        }
        &'migrate;render'= {
            cand --out 'The directory to write into (created if absent)'
            cand --source-acls 'The source''s ACLs as `kafka-acls.sh --list` prints them: also write acl-translation.md (each ACL of the apps'' principals and the IAM statement it became)'
            cand -p 'The migration plan (YAML)'
            cand --plan 'The migration plan (YAML)'
            cand --state-dir 'Where migrate keeps its state [default: the plan''s `state_dir`, else .migrate/<name> beside the plan]'
            cand -o 'Output format: a table for people, or one JSON document on stdout for programs'
            cand --output 'Output format: a table for people, or one JSON document on stdout for programs'
            cand --force 'Overwrite files already there'
            cand --create-secret 'The caller''s policy also allows what `apply --create-secret` does'
            cand --delete-secrets 'The caller''s policy also allows what `teardown --delete-secrets` does'
            cand -q 'Print only errors'
            cand --quiet 'Print only errors'
            cand -v 'Print more (-v debug, -vv trace); RUST_LOG overrides'
            cand --verbose 'Print more (-v debug, -vv trace); RUST_LOG overrides'
            cand --yes 'Answer yes to every confirmation'
            cand --strict 'Treat warnings as failures'
            cand -h 'Print help'
            cand --help 'Print help'
            cand -V 'Print version'
            cand --version 'Print version'
        }
        &'migrate;apply'= {
            cand --timeout 'Bound on each preflight network step (e.g. 10s, 1m; a bare number is seconds)'
            cand --wait-minutes '(msk) How long to wait for RUNNING, in minutes (creation takes tens of minutes)'
            cand -p 'The migration plan (YAML)'
            cand --plan 'The migration plan (YAML)'
            cand --state-dir 'Where migrate keeps its state [default: the plan''s `state_dir`, else .migrate/<name> beside the plan]'
            cand -o 'Output format: a table for people, or one JSON document on stdout for programs'
            cand --output 'Output format: a table for people, or one JSON document on stdout for programs'
            cand --recreate '(msk) Delete and create again a replicator that differs from the plan in what AWS cannot update; asks for confirmation unless --yes'
            cand --no-wait '(msk) Create the replicators and return without waiting for RUNNING'
            cand --create-secret '(msk) Create the replicator''s secret (msk.scram_secret_arn) from the plan''s source credentials and CA when it does not exist, encrypted with msk.secret_kms_key_arn'
            cand -q 'Print only errors'
            cand --quiet 'Print only errors'
            cand -v 'Print more (-v debug, -vv trace); RUST_LOG overrides'
            cand --verbose 'Print more (-v debug, -vv trace); RUST_LOG overrides'
            cand --yes 'Answer yes to every confirmation'
            cand --strict 'Treat warnings as failures'
            cand -h 'Print help'
            cand --help 'Print help'
            cand -V 'Print version'
            cand --version 'Print version'
        }
        &'migrate;status'= {
            cand -p 'The migration plan (YAML)'
            cand --plan 'The migration plan (YAML)'
            cand --state-dir 'Where migrate keeps its state [default: the plan''s `state_dir`, else .migrate/<name> beside the plan]'
            cand -o 'Output format: a table for people, or one JSON document on stdout for programs'
            cand --output 'Output format: a table for people, or one JSON document on stdout for programs'
            cand --watch 'Refresh every 2 s, in place on a terminal'
            cand -q 'Print only errors'
            cand --quiet 'Print only errors'
            cand -v 'Print more (-v debug, -vv trace); RUST_LOG overrides'
            cand --verbose 'Print more (-v debug, -vv trace); RUST_LOG overrides'
            cand --yes 'Answer yes to every confirmation'
            cand --strict 'Treat warnings as failures'
            cand -h 'Print help'
            cand --help 'Print help'
            cand -V 'Print version'
            cand --version 'Print version'
        }
        &'migrate;verify'= {
            cand -p 'The migration plan (YAML)'
            cand --plan 'The migration plan (YAML)'
            cand --state-dir 'Where migrate keeps its state [default: the plan''s `state_dir`, else .migrate/<name> beside the plan]'
            cand -o 'Output format: a table for people, or one JSON document on stdout for programs'
            cand --output 'Output format: a table for people, or one JSON document on stdout for programs'
            cand -q 'Print only errors'
            cand --quiet 'Print only errors'
            cand -v 'Print more (-v debug, -vv trace); RUST_LOG overrides'
            cand --verbose 'Print more (-v debug, -vv trace); RUST_LOG overrides'
            cand --yes 'Answer yes to every confirmation'
            cand --strict 'Treat warnings as failures'
            cand -h 'Print help'
            cand --help 'Print help'
            cand -V 'Print version'
            cand --version 'Print version'
        }
        &'migrate;cutover'= {
            cand --wait 'Wait up to this long for the readiness gate (e.g. 90s, 5m) before refusing with exit 4'
            cand --fence-window 'How long the app''s topics must stand still on the old side to prove it stopped'
            cand --fence-timeout 'How long the app may take to leave its groups on the old side'
            cand --drain-timeout 'How long replication may take to bring the app''s records and offsets across'
            cand --verify-timeout 'How long the app may take to work on the new side'
            cand --hook-timeout 'How long each hook may run before it is killed'
            cand -p 'The migration plan (YAML)'
            cand --plan 'The migration plan (YAML)'
            cand --state-dir 'Where migrate keeps its state [default: the plan''s `state_dir`, else .migrate/<name> beside the plan]'
            cand -o 'Output format: a table for people, or one JSON document on stdout for programs'
            cand --output 'Output format: a table for people, or one JSON document on stdout for programs'
            cand --dry-run 'Print the steps without running them'
            cand --no-auto-revert 'On a failure after `stop`, leave the app where the move stopped instead of putting it back'
            cand --accept-uncopied-writes '(msk, cutover) Move although the reverse replicator may have missed writes on MSK to the topics of the app (an app producing to them ran there before it was RUNNING, or it is not RUNNING now)'
            cand -q 'Print only errors'
            cand --quiet 'Print only errors'
            cand -v 'Print more (-v debug, -vv trace); RUST_LOG overrides'
            cand --verbose 'Print more (-v debug, -vv trace); RUST_LOG overrides'
            cand --yes 'Answer yes to every confirmation'
            cand --strict 'Treat warnings as failures'
            cand -h 'Print help'
            cand --help 'Print help'
            cand -V 'Print version'
            cand --version 'Print version'
        }
        &'migrate;rollback'= {
            cand --wait 'Wait up to this long for the readiness gate (e.g. 90s, 5m) before refusing with exit 4'
            cand --fence-window 'How long the app''s topics must stand still on the old side to prove it stopped'
            cand --fence-timeout 'How long the app may take to leave its groups on the old side'
            cand --drain-timeout 'How long replication may take to bring the app''s records and offsets across'
            cand --verify-timeout 'How long the app may take to work on the new side'
            cand --hook-timeout 'How long each hook may run before it is killed'
            cand -p 'The migration plan (YAML)'
            cand --plan 'The migration plan (YAML)'
            cand --state-dir 'Where migrate keeps its state [default: the plan''s `state_dir`, else .migrate/<name> beside the plan]'
            cand -o 'Output format: a table for people, or one JSON document on stdout for programs'
            cand --output 'Output format: a table for people, or one JSON document on stdout for programs'
            cand --dry-run 'Print the steps without running them'
            cand --no-auto-revert 'On a failure after `stop`, leave the app where the move stopped instead of putting it back'
            cand --accept-uncopied-writes '(msk, cutover) Move although the reverse replicator may have missed writes on MSK to the topics of the app (an app producing to them ran there before it was RUNNING, or it is not RUNNING now)'
            cand -q 'Print only errors'
            cand --quiet 'Print only errors'
            cand -v 'Print more (-v debug, -vv trace); RUST_LOG overrides'
            cand --verbose 'Print more (-v debug, -vv trace); RUST_LOG overrides'
            cand --yes 'Answer yes to every confirmation'
            cand --strict 'Treat warnings as failures'
            cand -h 'Print help'
            cand --help 'Print help'
            cand -V 'Print version'
            cand --version 'Print version'
        }
        &'migrate;teardown'= {
            cand --wait-minutes '(msk) How long to wait for the replicators to disappear, in minutes'
            cand -p 'The migration plan (YAML)'
            cand --plan 'The migration plan (YAML)'
            cand --state-dir 'Where migrate keeps its state [default: the plan''s `state_dir`, else .migrate/<name> beside the plan]'
            cand -o 'Output format: a table for people, or one JSON document on stdout for programs'
            cand --output 'Output format: a table for people, or one JSON document on stdout for programs'
            cand --force 'Go on although some apps still run on the source (prints a warning)'
            cand --no-verify 'Skip `migrate verify` before removing anything'
            cand --delete-secrets '(msk) Also delete the secrets `apply --create-secret` created for this plan (recoverable for 7 days); secrets migrate did not create are never deleted'
            cand --remove-synced-acls 'Also delete the target ACLs `apply` created under `replication.acls: sync` (exactly those recorded in the state directory; no other ACL is ever deleted)'
            cand -q 'Print only errors'
            cand --quiet 'Print only errors'
            cand -v 'Print more (-v debug, -vv trace); RUST_LOG overrides'
            cand --verbose 'Print more (-v debug, -vv trace); RUST_LOG overrides'
            cand --yes 'Answer yes to every confirmation'
            cand --strict 'Treat warnings as failures'
            cand -h 'Print help'
            cand --help 'Print help'
            cand -V 'Print version'
            cand --version 'Print version'
        }
        &'migrate;completions'= {
            cand -p 'The migration plan (YAML)'
            cand --plan 'The migration plan (YAML)'
            cand --state-dir 'Where migrate keeps its state [default: the plan''s `state_dir`, else .migrate/<name> beside the plan]'
            cand -o 'Output format: a table for people, or one JSON document on stdout for programs'
            cand --output 'Output format: a table for people, or one JSON document on stdout for programs'
            cand -q 'Print only errors'
            cand --quiet 'Print only errors'
            cand -v 'Print more (-v debug, -vv trace); RUST_LOG overrides'
            cand --verbose 'Print more (-v debug, -vv trace); RUST_LOG overrides'
            cand --yes 'Answer yes to every confirmation'
            cand --strict 'Treat warnings as failures'
            cand -h 'Print help'
            cand --help 'Print help'
            cand -V 'Print version'
            cand --version 'Print version'
        }
        &'migrate;help'= {
            cand init 'Write a commented example plan for the three demo apps'
            cand validate 'Check the plan offline: syntax, fields, references, credentials present'
            cand plan 'Validate, run preflight against both clusters, and list what apply would do; changes nothing'
            cand render 'Write the exact `aws kafka create-replicator` inputs of an msk plan, both directions, and the role''s IAM policies; offline, changes nothing'
            cand apply 'Validate, preflight, then replicate: embedded, in the foreground until SIGINT/SIGTERM; msk, create both MSK Replicators and wait until they run'
            cand status 'Show the running engine''s health (MSK Replicator''s metric names) and where each app runs'
            cand verify 'Compare source and target partition by partition, both directions, up to what is replicated'
            cand cutover 'Move an app to the target: gate, stop, fence, drain, switch, start, verify (resumable)'
            cand rollback 'Move an app back to the source, the same way (resumable; also undoes an unfinished cutover)'
            cand teardown 'Remove what the migration created once every app runs on the target: the replicators (msk) or the engine''s state (embedded); never the clusters or the role, and secrets only with --delete-secrets (only those `apply --create-secret` created)'
            cand completions 'Print a shell completion script'
            cand help 'Print this message or the help of the given subcommand(s)'
        }
        &'migrate;help;init'= {
        }
        &'migrate;help;validate'= {
        }
        &'migrate;help;plan'= {
        }
        &'migrate;help;render'= {
        }
        &'migrate;help;apply'= {
        }
        &'migrate;help;status'= {
        }
        &'migrate;help;verify'= {
        }
        &'migrate;help;cutover'= {
        }
        &'migrate;help;rollback'= {
        }
        &'migrate;help;teardown'= {
        }
        &'migrate;help;completions'= {
        }
        &'migrate;help;help'= {
        }
    ]
    $completions[$command]
}
