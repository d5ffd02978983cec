
using namespace System.Management.Automation
using namespace System.Management.Automation.Language

Register-ArgumentCompleter -Native -CommandName 'migrate' -ScriptBlock {
    param($wordToComplete, $commandAst, $cursorPosition)

    $commandElements = $commandAst.CommandElements
    $command = @(
        'migrate'
        for ($i = 1; $i -lt $commandElements.Count; $i++) {
            $element = $commandElements[$i]
            if ($element -isnot [StringConstantExpressionAst] -or
                $element.StringConstantType -ne [StringConstantType]::BareWord -or
                $element.Value.StartsWith('-') -or
                $element.Value -eq $wordToComplete) {
                break
        }
        $element.Value
    }) -join ';'

    $completions = @(switch ($command) {
        'migrate' {
            [CompletionResult]::new('-p', '-p', [CompletionResultType]::ParameterName, 'The migration plan (YAML)')
            [CompletionResult]::new('--plan', '--plan', [CompletionResultType]::ParameterName, 'The migration plan (YAML)')
            [CompletionResult]::new('--state-dir', '--state-dir', [CompletionResultType]::ParameterName, 'Where migrate keeps its state [default: the plan''s `state_dir`, else .migrate/<name> beside the plan]')
            [CompletionResult]::new('-o', '-o', [CompletionResultType]::ParameterName, 'Output format: a table for people, or one JSON document on stdout for programs')
            [CompletionResult]::new('--output', '--output', [CompletionResultType]::ParameterName, 'Output format: a table for people, or one JSON document on stdout for programs')
            [CompletionResult]::new('-q', '-q', [CompletionResultType]::ParameterName, 'Print only errors')
            [CompletionResult]::new('--quiet', '--quiet', [CompletionResultType]::ParameterName, 'Print only errors')
            [CompletionResult]::new('-v', '-v', [CompletionResultType]::ParameterName, 'Print more (-v debug, -vv trace); RUST_LOG overrides')
            [CompletionResult]::new('--verbose', '--verbose', [CompletionResultType]::ParameterName, 'Print more (-v debug, -vv trace); RUST_LOG overrides')
            [CompletionResult]::new('--yes', '--yes', [CompletionResultType]::ParameterName, 'Answer yes to every confirmation')
            [CompletionResult]::new('--strict', '--strict', [CompletionResultType]::ParameterName, 'Treat warnings as failures')
            [CompletionResult]::new('-h', '-h', [CompletionResultType]::ParameterName, 'Print help')
            [CompletionResult]::new('--help', '--help', [CompletionResultType]::ParameterName, 'Print help')
            [CompletionResult]::new('-V', '-V ', [CompletionResultType]::ParameterName, 'Print version')
            [CompletionResult]::new('--version', '--version', [CompletionResultType]::ParameterName, 'Print version')
            [CompletionResult]::new('init', 'init', [CompletionResultType]::ParameterValue, 'Write a commented example plan for the three demo apps')
            [CompletionResult]::new('validate', 'validate', [CompletionResultType]::ParameterValue, 'Check the plan offline: syntax, fields, references, credentials present')
            [CompletionResult]::new('plan', 'plan', [CompletionResultType]::ParameterValue, 'Validate, run preflight against both clusters, and list what apply would do; changes nothing')
            [CompletionResult]::new('render', 'render', [CompletionResultType]::ParameterValue, 'Write the exact `aws kafka create-replicator` inputs of an msk plan, both directions, and the role''s IAM policies; offline, changes nothing')
            [CompletionResult]::new('apply', 'apply', [CompletionResultType]::ParameterValue, 'Validate, preflight, then replicate: embedded, in the foreground until SIGINT/SIGTERM; msk, create both MSK Replicators and wait until they run')
            [CompletionResult]::new('status', 'status', [CompletionResultType]::ParameterValue, 'Show the running engine''s health (MSK Replicator''s metric names) and where each app runs')
            [CompletionResult]::new('verify', 'verify', [CompletionResultType]::ParameterValue, 'Compare source and target partition by partition, both directions, up to what is replicated')
            [CompletionResult]::new('cutover', 'cutover', [CompletionResultType]::ParameterValue, 'Move an app to the target: gate, stop, fence, drain, switch, start, verify (resumable)')
            [CompletionResult]::new('rollback', 'rollback', [CompletionResultType]::ParameterValue, 'Move an app back to the source, the same way (resumable; also undoes an unfinished cutover)')
            [CompletionResult]::new('teardown', 'teardown', [CompletionResultType]::ParameterValue, 'Remove what the migration created once every app runs on the target: the replicators (msk) or the engine''s state (embedded); never the clusters or the role, and secrets only with --delete-secrets (only those `apply --create-secret` created)')
            [CompletionResult]::new('completions', 'completions', [CompletionResultType]::ParameterValue, 'Print a shell completion script')
            [CompletionResult]::new('help', 'help', [CompletionResultType]::ParameterValue, 'Print this message or the help of the given subcommand(s)')
            break
        }
        'migrate;init' {
            [CompletionResult]::new('--out', '--out', [CompletionResultType]::ParameterName, 'Where to write it [default: the --plan path]')
            [CompletionResult]::new('-p', '-p', [CompletionResultType]::ParameterName, 'The migration plan (YAML)')
            [CompletionResult]::new('--plan', '--plan', [CompletionResultType]::ParameterName, 'The migration plan (YAML)')
            [CompletionResult]::new('--state-dir', '--state-dir', [CompletionResultType]::ParameterName, 'Where migrate keeps its state [default: the plan''s `state_dir`, else .migrate/<name> beside the plan]')
            [CompletionResult]::new('-o', '-o', [CompletionResultType]::ParameterName, 'Output format: a table for people, or one JSON document on stdout for programs')
            [CompletionResult]::new('--output', '--output', [CompletionResultType]::ParameterName, 'Output format: a table for people, or one JSON document on stdout for programs')
            [CompletionResult]::new('--force', '--force', [CompletionResultType]::ParameterName, 'Overwrite an existing file')
            [CompletionResult]::new('-q', '-q', [CompletionResultType]::ParameterName, 'Print only errors')
            [CompletionResult]::new('--quiet', '--quiet', [CompletionResultType]::ParameterName, 'Print only errors')
            [CompletionResult]::new('-v', '-v', [CompletionResultType]::ParameterName, 'Print more (-v debug, -vv trace); RUST_LOG overrides')
            [CompletionResult]::new('--verbose', '--verbose', [CompletionResultType]::ParameterName, 'Print more (-v debug, -vv trace); RUST_LOG overrides')
            [CompletionResult]::new('--yes', '--yes', [CompletionResultType]::ParameterName, 'Answer yes to every confirmation')
            [CompletionResult]::new('--strict', '--strict', [CompletionResultType]::ParameterName, 'Treat warnings as failures')
            [CompletionResult]::new('-h', '-h', [CompletionResultType]::ParameterName, 'Print help')
            [CompletionResult]::new('--help', '--help', [CompletionResultType]::ParameterName, 'Print help')
            [CompletionResult]::new('-V', '-V ', [CompletionResultType]::ParameterName, 'Print version')
            [CompletionResult]::new('--version', '--version', [CompletionResultType]::ParameterName, 'Print version')
            break
        }
        'migrate;validate' {
            [CompletionResult]::new('-p', '-p', [CompletionResultType]::ParameterName, 'The migration plan (YAML)')
            [CompletionResult]::new('--plan', '--plan', [CompletionResultType]::ParameterName, 'The migration plan (YAML)')
            [CompletionResult]::new('--state-dir', '--state-dir', [CompletionResultType]::ParameterName, 'Where migrate keeps its state [default: the plan''s `state_dir`, else .migrate/<name> beside the plan]')
            [CompletionResult]::new('-o', '-o', [CompletionResultType]::ParameterName, 'Output format: a table for people, or one JSON document on stdout for programs')
            [CompletionResult]::new('--output', '--output', [CompletionResultType]::ParameterName, 'Output format: a table for people, or one JSON document on stdout for programs')
            [CompletionResult]::new('-q', '-q', [CompletionResultType]::ParameterName, 'Print only errors')
            [CompletionResult]::new('--quiet', '--quiet', [CompletionResultType]::ParameterName, 'Print only errors')
            [CompletionResult]::new('-v', '-v', [CompletionResultType]::ParameterName, 'Print more (-v debug, -vv trace); RUST_LOG overrides')
            [CompletionResult]::new('--verbose', '--verbose', [CompletionResultType]::ParameterName, 'Print more (-v debug, -vv trace); RUST_LOG overrides')
            [CompletionResult]::new('--yes', '--yes', [CompletionResultType]::ParameterName, 'Answer yes to every confirmation')
            [CompletionResult]::new('--strict', '--strict', [CompletionResultType]::ParameterName, 'Treat warnings as failures')
            [CompletionResult]::new('-h', '-h', [CompletionResultType]::ParameterName, 'Print help')
            [CompletionResult]::new('--help', '--help', [CompletionResultType]::ParameterName, 'Print help')
            [CompletionResult]::new('-V', '-V ', [CompletionResultType]::ParameterName, 'Print version')
            [CompletionResult]::new('--version', '--version', [CompletionResultType]::ParameterName, 'Print version')
            break
        }
        'migrate;plan' {
            [CompletionResult]::new('--timeout', '--timeout', [CompletionResultType]::ParameterName, 'Bound on each network step (e.g. 10s, 1m; a bare number is seconds)')
            [CompletionResult]::new('-p', '-p', [CompletionResultType]::ParameterName, 'The migration plan (YAML)')
            [CompletionResult]::new('--plan', '--plan', [CompletionResultType]::ParameterName, 'The migration plan (YAML)')
            [CompletionResult]::new('--state-dir', '--state-dir', [CompletionResultType]::ParameterName, 'Where migrate keeps its state [default: the plan''s `state_dir`, else .migrate/<name> beside the plan]')
            [CompletionResult]::new('-o', '-o', [CompletionResultType]::ParameterName, 'Output format: a table for people, or one JSON document on stdout for programs')
            [CompletionResult]::new('--output', '--output', [CompletionResultType]::ParameterName, 'Output format: a table for people, or one JSON document on stdout for programs')
            [CompletionResult]::new('-q', '-q', [CompletionResultType]::ParameterName, 'Print only errors')
            [CompletionResult]::new('--quiet', '--quiet', [CompletionResultType]::ParameterName, 'Print only errors')
            [CompletionResult]::new('-v', '-v', [CompletionResultType]::ParameterName, 'Print more (-v debug, -vv trace); RUST_LOG overrides')
            [CompletionResult]::new('--verbose', '--verbose', [CompletionResultType]::ParameterName, 'Print more (-v debug, -vv trace); RUST_LOG overrides')
            [CompletionResult]::new('--yes', '--yes', [CompletionResultType]::ParameterName, 'Answer yes to every confirmation')
            [CompletionResult]::new('--strict', '--strict', [CompletionResultType]::ParameterName, 'Treat warnings as failures')
            [CompletionResult]::new('-h', '-h', [CompletionResultType]::ParameterName, 'Print help')
            [CompletionResult]::new('--help', '--help', [CompletionResultType]::ParameterName, 'Print help')
            [CompletionResult]::new('-V', '-V ', [CompletionResultType]::ParameterName, 'Print version')
            [CompletionResult]::new('--version', '--version', [CompletionResultType]::ParameterName, 'Print version')
            break
        }
        'migrate;render' {
            [CompletionResult]::new('--out', '--out', [CompletionResultType]::ParameterName, 'The directory to write into (created if absent)')
            [CompletionResult]::new('--source-acls', '--source-acls', [CompletionResultType]::ParameterName, 'The source''s ACLs as `kafka-acls.sh --list` prints them: also write acl-translation.md (each ACL of the apps'' principals and the IAM statement it became)')
            [CompletionResult]::new('-p', '-p', [CompletionResultType]::ParameterName, 'The migration plan (YAML)')
            [CompletionResult]::new('--plan', '--plan', [CompletionResultType]::ParameterName, 'The migration plan (YAML)')
            [CompletionResult]::new('--state-dir', '--state-dir', [CompletionResultType]::ParameterName, 'Where migrate keeps its state [default: the plan''s `state_dir`, else .migrate/<name> beside the plan]')
            [CompletionResult]::new('-o', '-o', [CompletionResultType]::ParameterName, 'Output format: a table for people, or one JSON document on stdout for programs')
            [CompletionResult]::new('--output', '--output', [CompletionResultType]::ParameterName, 'Output format: a table for people, or one JSON document on stdout for programs')
            [CompletionResult]::new('--force', '--force', [CompletionResultType]::ParameterName, 'Overwrite files already there')
            [CompletionResult]::new('--create-secret', '--create-secret', [CompletionResultType]::ParameterName, 'The caller''s policy also allows what `apply --create-secret` does')
            [CompletionResult]::new('--delete-secrets', '--delete-secrets', [CompletionResultType]::ParameterName, 'The caller''s policy also allows what `teardown --delete-secrets` does')
            [CompletionResult]::new('-q', '-q', [CompletionResultType]::ParameterName, 'Print only errors')
            [CompletionResult]::new('--quiet', '--quiet', [CompletionResultType]::ParameterName, 'Print only errors')
            [CompletionResult]::new('-v', '-v', [CompletionResultType]::ParameterName, 'Print more (-v debug, -vv trace); RUST_LOG overrides')
            [CompletionResult]::new('--verbose', '--verbose', [CompletionResultType]::ParameterName, 'Print more (-v debug, -vv trace); RUST_LOG overrides')
            [CompletionResult]::new('--yes', '--yes', [CompletionResultType]::ParameterName, 'Answer yes to every confirmation')
            [CompletionResult]::new('--strict', '--strict', [CompletionResultType]::ParameterName, 'Treat warnings as failures')
            [CompletionResult]::new('-h', '-h', [CompletionResultType]::ParameterName, 'Print help')
            [CompletionResult]::new('--help', '--help', [CompletionResultType]::ParameterName, 'Print help')
            [CompletionResult]::new('-V', '-V ', [CompletionResultType]::ParameterName, 'Print version')
            [CompletionResult]::new('--version', '--version', [CompletionResultType]::ParameterName, 'Print version')
            break
        }
        'migrate;apply' {
            [CompletionResult]::new('--timeout', '--timeout', [CompletionResultType]::ParameterName, 'Bound on each preflight network step (e.g. 10s, 1m; a bare number is seconds)')
            [CompletionResult]::new('--wait-minutes', '--wait-minutes', [CompletionResultType]::ParameterName, '(msk) How long to wait for RUNNING, in minutes (creation takes tens of minutes)')
            [CompletionResult]::new('-p', '-p', [CompletionResultType]::ParameterName, 'The migration plan (YAML)')
            [CompletionResult]::new('--plan', '--plan', [CompletionResultType]::ParameterName, 'The migration plan (YAML)')
            [CompletionResult]::new('--state-dir', '--state-dir', [CompletionResultType]::ParameterName, 'Where migrate keeps its state [default: the plan''s `state_dir`, else .migrate/<name> beside the plan]')
            [CompletionResult]::new('-o', '-o', [CompletionResultType]::ParameterName, 'Output format: a table for people, or one JSON document on stdout for programs')
            [CompletionResult]::new('--output', '--output', [CompletionResultType]::ParameterName, 'Output format: a table for people, or one JSON document on stdout for programs')
            [CompletionResult]::new('--recreate', '--recreate', [CompletionResultType]::ParameterName, '(msk) Delete and create again a replicator that differs from the plan in what AWS cannot update; asks for confirmation unless --yes')
            [CompletionResult]::new('--no-wait', '--no-wait', [CompletionResultType]::ParameterName, '(msk) Create the replicators and return without waiting for RUNNING')
            [CompletionResult]::new('--create-secret', '--create-secret', [CompletionResultType]::ParameterName, '(msk) Create the replicator''s secret (msk.scram_secret_arn) from the plan''s source credentials and CA when it does not exist, encrypted with msk.secret_kms_key_arn')
            [CompletionResult]::new('-q', '-q', [CompletionResultType]::ParameterName, 'Print only errors')
            [CompletionResult]::new('--quiet', '--quiet', [CompletionResultType]::ParameterName, 'Print only errors')
            [CompletionResult]::new('-v', '-v', [CompletionResultType]::ParameterName, 'Print more (-v debug, -vv trace); RUST_LOG overrides')
            [CompletionResult]::new('--verbose', '--verbose', [CompletionResultType]::ParameterName, 'Print more (-v debug, -vv trace); RUST_LOG overrides')
            [CompletionResult]::new('--yes', '--yes', [CompletionResultType]::ParameterName, 'Answer yes to every confirmation')
            [CompletionResult]::new('--strict', '--strict', [CompletionResultType]::ParameterName, 'Treat warnings as failures')
            [CompletionResult]::new('-h', '-h', [CompletionResultType]::ParameterName, 'Print help')
            [CompletionResult]::new('--help', '--help', [CompletionResultType]::ParameterName, 'Print help')
            [CompletionResult]::new('-V', '-V ', [CompletionResultType]::ParameterName, 'Print version')
            [CompletionResult]::new('--version', '--version', [CompletionResultType]::ParameterName, 'Print version')
            break
        }
        'migrate;status' {
            [CompletionResult]::new('-p', '-p', [CompletionResultType]::ParameterName, 'The migration plan (YAML)')
            [CompletionResult]::new('--plan', '--plan', [CompletionResultType]::ParameterName, 'The migration plan (YAML)')
            [CompletionResult]::new('--state-dir', '--state-dir', [CompletionResultType]::ParameterName, 'Where migrate keeps its state [default: the plan''s `state_dir`, else .migrate/<name> beside the plan]')
            [CompletionResult]::new('-o', '-o', [CompletionResultType]::ParameterName, 'Output format: a table for people, or one JSON document on stdout for programs')
            [CompletionResult]::new('--output', '--output', [CompletionResultType]::ParameterName, 'Output format: a table for people, or one JSON document on stdout for programs')
            [CompletionResult]::new('--watch', '--watch', [CompletionResultType]::ParameterName, 'Refresh every 2 s, in place on a terminal')
            [CompletionResult]::new('-q', '-q', [CompletionResultType]::ParameterName, 'Print only errors')
            [CompletionResult]::new('--quiet', '--quiet', [CompletionResultType]::ParameterName, 'Print only errors')
            [CompletionResult]::new('-v', '-v', [CompletionResultType]::ParameterName, 'Print more (-v debug, -vv trace); RUST_LOG overrides')
            [CompletionResult]::new('--verbose', '--verbose', [CompletionResultType]::ParameterName, 'Print more (-v debug, -vv trace); RUST_LOG overrides')
            [CompletionResult]::new('--yes', '--yes', [CompletionResultType]::ParameterName, 'Answer yes to every confirmation')
            [CompletionResult]::new('--strict', '--strict', [CompletionResultType]::ParameterName, 'Treat warnings as failures')
            [CompletionResult]::new('-h', '-h', [CompletionResultType]::ParameterName, 'Print help')
            [CompletionResult]::new('--help', '--help', [CompletionResultType]::ParameterName, 'Print help')
            [CompletionResult]::new('-V', '-V ', [CompletionResultType]::ParameterName, 'Print version')
            [CompletionResult]::new('--version', '--version', [CompletionResultType]::ParameterName, 'Print version')
            break
        }
        'migrate;verify' {
            [CompletionResult]::new('-p', '-p', [CompletionResultType]::ParameterName, 'The migration plan (YAML)')
            [CompletionResult]::new('--plan', '--plan', [CompletionResultType]::ParameterName, 'The migration plan (YAML)')
            [CompletionResult]::new('--state-dir', '--state-dir', [CompletionResultType]::ParameterName, 'Where migrate keeps its state [default: the plan''s `state_dir`, else .migrate/<name> beside the plan]')
            [CompletionResult]::new('-o', '-o', [CompletionResultType]::ParameterName, 'Output format: a table for people, or one JSON document on stdout for programs')
            [CompletionResult]::new('--output', '--output', [CompletionResultType]::ParameterName, 'Output format: a table for people, or one JSON document on stdout for programs')
            [CompletionResult]::new('-q', '-q', [CompletionResultType]::ParameterName, 'Print only errors')
            [CompletionResult]::new('--quiet', '--quiet', [CompletionResultType]::ParameterName, 'Print only errors')
            [CompletionResult]::new('-v', '-v', [CompletionResultType]::ParameterName, 'Print more (-v debug, -vv trace); RUST_LOG overrides')
            [CompletionResult]::new('--verbose', '--verbose', [CompletionResultType]::ParameterName, 'Print more (-v debug, -vv trace); RUST_LOG overrides')
            [CompletionResult]::new('--yes', '--yes', [CompletionResultType]::ParameterName, 'Answer yes to every confirmation')
            [CompletionResult]::new('--strict', '--strict', [CompletionResultType]::ParameterName, 'Treat warnings as failures')
            [CompletionResult]::new('-h', '-h', [CompletionResultType]::ParameterName, 'Print help')
            [CompletionResult]::new('--help', '--help', [CompletionResultType]::ParameterName, 'Print help')
            [CompletionResult]::new('-V', '-V ', [CompletionResultType]::ParameterName, 'Print version')
            [CompletionResult]::new('--version', '--version', [CompletionResultType]::ParameterName, 'Print version')
            break
        }
        'migrate;cutover' {
            [CompletionResult]::new('--wait', '--wait', [CompletionResultType]::ParameterName, 'Wait up to this long for the readiness gate (e.g. 90s, 5m) before refusing with exit 4')
            [CompletionResult]::new('--fence-window', '--fence-window', [CompletionResultType]::ParameterName, 'How long the app''s topics must stand still on the old side to prove it stopped')
            [CompletionResult]::new('--fence-timeout', '--fence-timeout', [CompletionResultType]::ParameterName, 'How long the app may take to leave its groups on the old side')
            [CompletionResult]::new('--drain-timeout', '--drain-timeout', [CompletionResultType]::ParameterName, 'How long replication may take to bring the app''s records and offsets across')
            [CompletionResult]::new('--verify-timeout', '--verify-timeout', [CompletionResultType]::ParameterName, 'How long the app may take to work on the new side')
            [CompletionResult]::new('--hook-timeout', '--hook-timeout', [CompletionResultType]::ParameterName, 'How long each hook may run before it is killed')
            [CompletionResult]::new('-p', '-p', [CompletionResultType]::ParameterName, 'The migration plan (YAML)')
            [CompletionResult]::new('--plan', '--plan', [CompletionResultType]::ParameterName, 'The migration plan (YAML)')
            [CompletionResult]::new('--state-dir', '--state-dir', [CompletionResultType]::ParameterName, 'Where migrate keeps its state [default: the plan''s `state_dir`, else .migrate/<name> beside the plan]')
            [CompletionResult]::new('-o', '-o', [CompletionResultType]::ParameterName, 'Output format: a table for people, or one JSON document on stdout for programs')
            [CompletionResult]::new('--output', '--output', [CompletionResultType]::ParameterName, 'Output format: a table for people, or one JSON document on stdout for programs')
            [CompletionResult]::new('--dry-run', '--dry-run', [CompletionResultType]::ParameterName, 'Print the steps without running them')
            [CompletionResult]::new('--no-auto-revert', '--no-auto-revert', [CompletionResultType]::ParameterName, 'On a failure after `stop`, leave the app where the move stopped instead of putting it back')
            [CompletionResult]::new('--accept-uncopied-writes', '--accept-uncopied-writes', [CompletionResultType]::ParameterName, '(msk, cutover) Move although the reverse replicator may have missed writes on MSK to the topics of the app (an app producing to them ran there before it was RUNNING, or it is not RUNNING now)')
            [CompletionResult]::new('-q', '-q', [CompletionResultType]::ParameterName, 'Print only errors')
            [CompletionResult]::new('--quiet', '--quiet', [CompletionResultType]::ParameterName, 'Print only errors')
            [CompletionResult]::new('-v', '-v', [CompletionResultType]::ParameterName, 'Print more (-v debug, -vv trace); RUST_LOG overrides')
            [CompletionResult]::new('--verbose', '--verbose', [CompletionResultType]::ParameterName, 'Print more (-v debug, -vv trace); RUST_LOG overrides')
            [CompletionResult]::new('--yes', '--yes', [CompletionResultType]::ParameterName, 'Answer yes to every confirmation')
            [CompletionResult]::new('--strict', '--strict', [CompletionResultType]::ParameterName, 'Treat warnings as failures')
            [CompletionResult]::new('-h', '-h', [CompletionResultType]::ParameterName, 'Print help')
            [CompletionResult]::new('--help', '--help', [CompletionResultType]::ParameterName, 'Print help')
            [CompletionResult]::new('-V', '-V ', [CompletionResultType]::ParameterName, 'Print version')
            [CompletionResult]::new('--version', '--version', [CompletionResultType]::ParameterName, 'Print version')
            break
        }
        'migrate;rollback' {
            [CompletionResult]::new('--wait', '--wait', [CompletionResultType]::ParameterName, 'Wait up to this long for the readiness gate (e.g. 90s, 5m) before refusing with exit 4')
            [CompletionResult]::new('--fence-window', '--fence-window', [CompletionResultType]::ParameterName, 'How long the app''s topics must stand still on the old side to prove it stopped')
            [CompletionResult]::new('--fence-timeout', '--fence-timeout', [CompletionResultType]::ParameterName, 'How long the app may take to leave its groups on the old side')
            [CompletionResult]::new('--drain-timeout', '--drain-timeout', [CompletionResultType]::ParameterName, 'How long replication may take to bring the app''s records and offsets across')
            [CompletionResult]::new('--verify-timeout', '--verify-timeout', [CompletionResultType]::ParameterName, 'How long the app may take to work on the new side')
            [CompletionResult]::new('--hook-timeout', '--hook-timeout', [CompletionResultType]::ParameterName, 'How long each hook may run before it is killed')
            [CompletionResult]::new('-p', '-p', [CompletionResultType]::ParameterName, 'The migration plan (YAML)')
            [CompletionResult]::new('--plan', '--plan', [CompletionResultType]::ParameterName, 'The migration plan (YAML)')
            [CompletionResult]::new('--state-dir', '--state-dir', [CompletionResultType]::ParameterName, 'Where migrate keeps its state [default: the plan''s `state_dir`, else .migrate/<name> beside the plan]')
            [CompletionResult]::new('-o', '-o', [CompletionResultType]::ParameterName, 'Output format: a table for people, or one JSON document on stdout for programs')
            [CompletionResult]::new('--output', '--output', [CompletionResultType]::ParameterName, 'Output format: a table for people, or one JSON document on stdout for programs')
            [CompletionResult]::new('--dry-run', '--dry-run', [CompletionResultType]::ParameterName, 'Print the steps without running them')
            [CompletionResult]::new('--no-auto-revert', '--no-auto-revert', [CompletionResultType]::ParameterName, 'On a failure after `stop`, leave the app where the move stopped instead of putting it back')
            [CompletionResult]::new('--accept-uncopied-writes', '--accept-uncopied-writes', [CompletionResultType]::ParameterName, '(msk, cutover) Move although the reverse replicator may have missed writes on MSK to the topics of the app (an app producing to them ran there before it was RUNNING, or it is not RUNNING now)')
            [CompletionResult]::new('-q', '-q', [CompletionResultType]::ParameterName, 'Print only errors')
            [CompletionResult]::new('--quiet', '--quiet', [CompletionResultType]::ParameterName, 'Print only errors')
            [CompletionResult]::new('-v', '-v', [CompletionResultType]::ParameterName, 'Print more (-v debug, -vv trace); RUST_LOG overrides')
            [CompletionResult]::new('--verbose', '--verbose', [CompletionResultType]::ParameterName, 'Print more (-v debug, -vv trace); RUST_LOG overrides')
            [CompletionResult]::new('--yes', '--yes', [CompletionResultType]::ParameterName, 'Answer yes to every confirmation')
            [CompletionResult]::new('--strict', '--strict', [CompletionResultType]::ParameterName, 'Treat warnings as failures')
            [CompletionResult]::new('-h', '-h', [CompletionResultType]::ParameterName, 'Print help')
            [CompletionResult]::new('--help', '--help', [CompletionResultType]::ParameterName, 'Print help')
            [CompletionResult]::new('-V', '-V ', [CompletionResultType]::ParameterName, 'Print version')
            [CompletionResult]::new('--version', '--version', [CompletionResultType]::ParameterName, 'Print version')
            break
        }
        'migrate;teardown' {
            [CompletionResult]::new('--wait-minutes', '--wait-minutes', [CompletionResultType]::ParameterName, '(msk) How long to wait for the replicators to disappear, in minutes')
            [CompletionResult]::new('-p', '-p', [CompletionResultType]::ParameterName, 'The migration plan (YAML)')
            [CompletionResult]::new('--plan', '--plan', [CompletionResultType]::ParameterName, 'The migration plan (YAML)')
            [CompletionResult]::new('--state-dir', '--state-dir', [CompletionResultType]::ParameterName, 'Where migrate keeps its state [default: the plan''s `state_dir`, else .migrate/<name> beside the plan]')
            [CompletionResult]::new('-o', '-o', [CompletionResultType]::ParameterName, 'Output format: a table for people, or one JSON document on stdout for programs')
            [CompletionResult]::new('--output', '--output', [CompletionResultType]::ParameterName, 'Output format: a table for people, or one JSON document on stdout for programs')
            [CompletionResult]::new('--force', '--force', [CompletionResultType]::ParameterName, 'Go on although some apps still run on the source (prints a warning)')
            [CompletionResult]::new('--no-verify', '--no-verify', [CompletionResultType]::ParameterName, 'Skip `migrate verify` before removing anything')
            [CompletionResult]::new('--delete-secrets', '--delete-secrets', [CompletionResultType]::ParameterName, '(msk) Also delete the secrets `apply --create-secret` created for this plan (recoverable for 7 days); secrets migrate did not create are never deleted')
            [CompletionResult]::new('--remove-synced-acls', '--remove-synced-acls', [CompletionResultType]::ParameterName, 'Also delete the target ACLs `apply` created under `replication.acls: sync` (exactly those recorded in the state directory; no other ACL is ever deleted)')
            [CompletionResult]::new('-q', '-q', [CompletionResultType]::ParameterName, 'Print only errors')
            [CompletionResult]::new('--quiet', '--quiet', [CompletionResultType]::ParameterName, 'Print only errors')
            [CompletionResult]::new('-v', '-v', [CompletionResultType]::ParameterName, 'Print more (-v debug, -vv trace); RUST_LOG overrides')
            [CompletionResult]::new('--verbose', '--verbose', [CompletionResultType]::ParameterName, 'Print more (-v debug, -vv trace); RUST_LOG overrides')
            [CompletionResult]::new('--yes', '--yes', [CompletionResultType]::ParameterName, 'Answer yes to every confirmation')
            [CompletionResult]::new('--strict', '--strict', [CompletionResultType]::ParameterName, 'Treat warnings as failures')
            [CompletionResult]::new('-h', '-h', [CompletionResultType]::ParameterName, 'Print help')
            [CompletionResult]::new('--help', '--help', [CompletionResultType]::ParameterName, 'Print help')
            [CompletionResult]::new('-V', '-V ', [CompletionResultType]::ParameterName, 'Print version')
            [CompletionResult]::new('--version', '--version', [CompletionResultType]::ParameterName, 'Print version')
            break
        }
        'migrate;completions' {
            [CompletionResult]::new('-p', '-p', [CompletionResultType]::ParameterName, 'The migration plan (YAML)')
            [CompletionResult]::new('--plan', '--plan', [CompletionResultType]::ParameterName, 'The migration plan (YAML)')
            [CompletionResult]::new('--state-dir', '--state-dir', [CompletionResultType]::ParameterName, 'Where migrate keeps its state [default: the plan''s `state_dir`, else .migrate/<name> beside the plan]')
            [CompletionResult]::new('-o', '-o', [CompletionResultType]::ParameterName, 'Output format: a table for people, or one JSON document on stdout for programs')
            [CompletionResult]::new('--output', '--output', [CompletionResultType]::ParameterName, 'Output format: a table for people, or one JSON document on stdout for programs')
            [CompletionResult]::new('-q', '-q', [CompletionResultType]::ParameterName, 'Print only errors')
            [CompletionResult]::new('--quiet', '--quiet', [CompletionResultType]::ParameterName, 'Print only errors')
            [CompletionResult]::new('-v', '-v', [CompletionResultType]::ParameterName, 'Print more (-v debug, -vv trace); RUST_LOG overrides')
            [CompletionResult]::new('--verbose', '--verbose', [CompletionResultType]::ParameterName, 'Print more (-v debug, -vv trace); RUST_LOG overrides')
            [CompletionResult]::new('--yes', '--yes', [CompletionResultType]::ParameterName, 'Answer yes to every confirmation')
            [CompletionResult]::new('--strict', '--strict', [CompletionResultType]::ParameterName, 'Treat warnings as failures')
            [CompletionResult]::new('-h', '-h', [CompletionResultType]::ParameterName, 'Print help')
            [CompletionResult]::new('--help', '--help', [CompletionResultType]::ParameterName, 'Print help')
            [CompletionResult]::new('-V', '-V ', [CompletionResultType]::ParameterName, 'Print version')
            [CompletionResult]::new('--version', '--version', [CompletionResultType]::ParameterName, 'Print version')
            break
        }
        'migrate;help' {
            [CompletionResult]::new('init', 'init', [CompletionResultType]::ParameterValue, 'Write a commented example plan for the three demo apps')
            [CompletionResult]::new('validate', 'validate', [CompletionResultType]::ParameterValue, 'Check the plan offline: syntax, fields, references, credentials present')
            [CompletionResult]::new('plan', 'plan', [CompletionResultType]::ParameterValue, 'Validate, run preflight against both clusters, and list what apply would do; changes nothing')
            [CompletionResult]::new('render', 'render', [CompletionResultType]::ParameterValue, 'Write the exact `aws kafka create-replicator` inputs of an msk plan, both directions, and the role''s IAM policies; offline, changes nothing')
            [CompletionResult]::new('apply', 'apply', [CompletionResultType]::ParameterValue, 'Validate, preflight, then replicate: embedded, in the foreground until SIGINT/SIGTERM; msk, create both MSK Replicators and wait until they run')
            [CompletionResult]::new('status', 'status', [CompletionResultType]::ParameterValue, 'Show the running engine''s health (MSK Replicator''s metric names) and where each app runs')
            [CompletionResult]::new('verify', 'verify', [CompletionResultType]::ParameterValue, 'Compare source and target partition by partition, both directions, up to what is replicated')
            [CompletionResult]::new('cutover', 'cutover', [CompletionResultType]::ParameterValue, 'Move an app to the target: gate, stop, fence, drain, switch, start, verify (resumable)')
            [CompletionResult]::new('rollback', 'rollback', [CompletionResultType]::ParameterValue, 'Move an app back to the source, the same way (resumable; also undoes an unfinished cutover)')
            [CompletionResult]::new('teardown', 'teardown', [CompletionResultType]::ParameterValue, 'Remove what the migration created once every app runs on the target: the replicators (msk) or the engine''s state (embedded); never the clusters or the role, and secrets only with --delete-secrets (only those `apply --create-secret` created)')
            [CompletionResult]::new('completions', 'completions', [CompletionResultType]::ParameterValue, 'Print a shell completion script')
            [CompletionResult]::new('help', 'help', [CompletionResultType]::ParameterValue, 'Print this message or the help of the given subcommand(s)')
            break
        }
        'migrate;help;init' {
            break
        }
        'migrate;help;validate' {
            break
        }
        'migrate;help;plan' {
            break
        }
        'migrate;help;render' {
            break
        }
        'migrate;help;apply' {
            break
        }
        'migrate;help;status' {
            break
        }
        'migrate;help;verify' {
            break
        }
        'migrate;help;cutover' {
            break
        }
        'migrate;help;rollback' {
            break
        }
        'migrate;help;teardown' {
            break
        }
        'migrate;help;completions' {
            break
        }
        'migrate;help;help' {
            break
        }
    })

    $completions.Where{ $_.CompletionText -like "$wordToComplete*" } |
        Sort-Object -Property ListItemText
}
