# Print an optspec for argparse to handle cmd's options that are independent of any subcommand.
function __fish_migrate_global_optspecs
    string join \n p/plan= state-dir= o/output= q/quiet v/verbose yes strict h/help V/version
end

function __fish_migrate_needs_command
    # Figure out if the current invocation already has a command.
    set -l cmd (commandline -opc)
    set -e cmd[1]
    argparse -s (__fish_migrate_global_optspecs) -- $cmd 2>/dev/null
    or return
    if set -q argv[1]
        # Also print the command, so this can be used to figure out what it is.
        echo $argv[1]
        return 1
    end
    return 0
end

function __fish_migrate_using_subcommand
    set -l cmd (__fish_migrate_needs_command)
    test -z "$cmd"
    and return 1
    contains -- $cmd[1] $argv
end

complete -c migrate -n "__fish_migrate_needs_command" -s p -l plan -d 'The migration plan (YAML)' -r -F
complete -c migrate -n "__fish_migrate_needs_command" -l state-dir -d 'Where migrate keeps its state [default: the plan\'s `state_dir`, else .migrate/<name> beside the plan]' -r -F
complete -c migrate -n "__fish_migrate_needs_command" -s o -l output -d 'Output format: a table for people, or one JSON document on stdout for programs' -r -f -a "table\t''
json\t''"
complete -c migrate -n "__fish_migrate_needs_command" -s q -l quiet -d 'Print only errors'
complete -c migrate -n "__fish_migrate_needs_command" -s v -l verbose -d 'Print more (-v debug, -vv trace); RUST_LOG overrides'
complete -c migrate -n "__fish_migrate_needs_command" -l yes -d 'Answer yes to every confirmation'
complete -c migrate -n "__fish_migrate_needs_command" -l strict -d 'Treat warnings as failures'
complete -c migrate -n "__fish_migrate_needs_command" -s h -l help -d 'Print help'
complete -c migrate -n "__fish_migrate_needs_command" -s V -l version -d 'Print version'
complete -c migrate -n "__fish_migrate_needs_command" -f -a "init" -d 'Write a commented example plan for the three demo apps'
complete -c migrate -n "__fish_migrate_needs_command" -f -a "validate" -d 'Check the plan offline: syntax, fields, references, credentials present'
complete -c migrate -n "__fish_migrate_needs_command" -f -a "plan" -d 'Validate, run preflight against both clusters, and list what apply would do; changes nothing'
complete -c migrate -n "__fish_migrate_needs_command" -f -a "render" -d 'Write the exact `aws kafka create-replicator` inputs of an msk plan, both directions, and the role\'s IAM policies; offline, changes nothing'
complete -c migrate -n "__fish_migrate_needs_command" -f -a "apply" -d 'Validate, preflight, then replicate: embedded, in the foreground until SIGINT/SIGTERM; msk, create both MSK Replicators and wait until they run'
complete -c migrate -n "__fish_migrate_needs_command" -f -a "status" -d 'Show the running engine\'s health (MSK Replicator\'s metric names) and where each app runs'
complete -c migrate -n "__fish_migrate_needs_command" -f -a "verify" -d 'Compare source and target partition by partition, both directions, up to what is replicated'
complete -c migrate -n "__fish_migrate_needs_command" -f -a "cutover" -d 'Move an app to the target: gate, stop, fence, drain, switch, start, verify (resumable)'
complete -c migrate -n "__fish_migrate_needs_command" -f -a "rollback" -d 'Move an app back to the source, the same way (resumable; also undoes an unfinished cutover)'
complete -c migrate -n "__fish_migrate_needs_command" -f -a "teardown" -d 'Remove what the migration created once every app runs on the target: the replicators (msk) or the engine\'s state (embedded); never the clusters or the role, and secrets only with --delete-secrets (only those `apply --create-secret` created)'
complete -c migrate -n "__fish_migrate_needs_command" -f -a "completions" -d 'Print a shell completion script'
complete -c migrate -n "__fish_migrate_needs_command" -f -a "help" -d 'Print this message or the help of the given subcommand(s)'
complete -c migrate -n "__fish_migrate_using_subcommand init" -l out -d 'Where to write it [default: the --plan path]' -r -F
complete -c migrate -n "__fish_migrate_using_subcommand init" -s p -l plan -d 'The migration plan (YAML)' -r -F
complete -c migrate -n "__fish_migrate_using_subcommand init" -l state-dir -d 'Where migrate keeps its state [default: the plan\'s `state_dir`, else .migrate/<name> beside the plan]' -r -F
complete -c migrate -n "__fish_migrate_using_subcommand init" -s o -l output -d 'Output format: a table for people, or one JSON document on stdout for programs' -r -f -a "table\t''
json\t''"
complete -c migrate -n "__fish_migrate_using_subcommand init" -l force -d 'Overwrite an existing file'
complete -c migrate -n "__fish_migrate_using_subcommand init" -s q -l quiet -d 'Print only errors'
complete -c migrate -n "__fish_migrate_using_subcommand init" -s v -l verbose -d 'Print more (-v debug, -vv trace); RUST_LOG overrides'
complete -c migrate -n "__fish_migrate_using_subcommand init" -l yes -d 'Answer yes to every confirmation'
complete -c migrate -n "__fish_migrate_using_subcommand init" -l strict -d 'Treat warnings as failures'
complete -c migrate -n "__fish_migrate_using_subcommand init" -s h -l help -d 'Print help'
complete -c migrate -n "__fish_migrate_using_subcommand init" -s V -l version -d 'Print version'
complete -c migrate -n "__fish_migrate_using_subcommand validate" -s p -l plan -d 'The migration plan (YAML)' -r -F
complete -c migrate -n "__fish_migrate_using_subcommand validate" -l state-dir -d 'Where migrate keeps its state [default: the plan\'s `state_dir`, else .migrate/<name> beside the plan]' -r -F
complete -c migrate -n "__fish_migrate_using_subcommand validate" -s o -l output -d 'Output format: a table for people, or one JSON document on stdout for programs' -r -f -a "table\t''
json\t''"
complete -c migrate -n "__fish_migrate_using_subcommand validate" -s q -l quiet -d 'Print only errors'
complete -c migrate -n "__fish_migrate_using_subcommand validate" -s v -l verbose -d 'Print more (-v debug, -vv trace); RUST_LOG overrides'
complete -c migrate -n "__fish_migrate_using_subcommand validate" -l yes -d 'Answer yes to every confirmation'
complete -c migrate -n "__fish_migrate_using_subcommand validate" -l strict -d 'Treat warnings as failures'
complete -c migrate -n "__fish_migrate_using_subcommand validate" -s h -l help -d 'Print help'
complete -c migrate -n "__fish_migrate_using_subcommand validate" -s V -l version -d 'Print version'
complete -c migrate -n "__fish_migrate_using_subcommand plan" -l timeout -d 'Bound on each network step (e.g. 10s, 1m; a bare number is seconds)' -r
complete -c migrate -n "__fish_migrate_using_subcommand plan" -s p -l plan -d 'The migration plan (YAML)' -r -F
complete -c migrate -n "__fish_migrate_using_subcommand plan" -l state-dir -d 'Where migrate keeps its state [default: the plan\'s `state_dir`, else .migrate/<name> beside the plan]' -r -F
complete -c migrate -n "__fish_migrate_using_subcommand plan" -s o -l output -d 'Output format: a table for people, or one JSON document on stdout for programs' -r -f -a "table\t''
json\t''"
complete -c migrate -n "__fish_migrate_using_subcommand plan" -s q -l quiet -d 'Print only errors'
complete -c migrate -n "__fish_migrate_using_subcommand plan" -s v -l verbose -d 'Print more (-v debug, -vv trace); RUST_LOG overrides'
complete -c migrate -n "__fish_migrate_using_subcommand plan" -l yes -d 'Answer yes to every confirmation'
complete -c migrate -n "__fish_migrate_using_subcommand plan" -l strict -d 'Treat warnings as failures'
complete -c migrate -n "__fish_migrate_using_subcommand plan" -s h -l help -d 'Print help'
complete -c migrate -n "__fish_migrate_using_subcommand plan" -s V -l version -d 'Print version'
complete -c migrate -n "__fish_migrate_using_subcommand render" -l out -d 'The directory to write into (created if absent)' -r -F
complete -c migrate -n "__fish_migrate_using_subcommand render" -l source-acls -d 'The source\'s ACLs as `kafka-acls.sh --list` prints them: also write acl-translation.md (each ACL of the apps\' principals and the IAM statement it became)' -r -F
complete -c migrate -n "__fish_migrate_using_subcommand render" -s p -l plan -d 'The migration plan (YAML)' -r -F
complete -c migrate -n "__fish_migrate_using_subcommand render" -l state-dir -d 'Where migrate keeps its state [default: the plan\'s `state_dir`, else .migrate/<name> beside the plan]' -r -F
complete -c migrate -n "__fish_migrate_using_subcommand render" -s o -l output -d 'Output format: a table for people, or one JSON document on stdout for programs' -r -f -a "table\t''
json\t''"
complete -c migrate -n "__fish_migrate_using_subcommand render" -l force -d 'Overwrite files already there'
complete -c migrate -n "__fish_migrate_using_subcommand render" -l create-secret -d 'The caller\'s policy also allows what `apply --create-secret` does'
complete -c migrate -n "__fish_migrate_using_subcommand render" -l delete-secrets -d 'The caller\'s policy also allows what `teardown --delete-secrets` does'
complete -c migrate -n "__fish_migrate_using_subcommand render" -s q -l quiet -d 'Print only errors'
complete -c migrate -n "__fish_migrate_using_subcommand render" -s v -l verbose -d 'Print more (-v debug, -vv trace); RUST_LOG overrides'
complete -c migrate -n "__fish_migrate_using_subcommand render" -l yes -d 'Answer yes to every confirmation'
complete -c migrate -n "__fish_migrate_using_subcommand render" -l strict -d 'Treat warnings as failures'
complete -c migrate -n "__fish_migrate_using_subcommand render" -s h -l help -d 'Print help'
complete -c migrate -n "__fish_migrate_using_subcommand render" -s V -l version -d 'Print version'
complete -c migrate -n "__fish_migrate_using_subcommand apply" -l timeout -d 'Bound on each preflight network step (e.g. 10s, 1m; a bare number is seconds)' -r
complete -c migrate -n "__fish_migrate_using_subcommand apply" -l wait-minutes -d '(msk) How long to wait for RUNNING, in minutes (creation takes tens of minutes)' -r
complete -c migrate -n "__fish_migrate_using_subcommand apply" -s p -l plan -d 'The migration plan (YAML)' -r -F
complete -c migrate -n "__fish_migrate_using_subcommand apply" -l state-dir -d 'Where migrate keeps its state [default: the plan\'s `state_dir`, else .migrate/<name> beside the plan]' -r -F
complete -c migrate -n "__fish_migrate_using_subcommand apply" -s o -l output -d 'Output format: a table for people, or one JSON document on stdout for programs' -r -f -a "table\t''
json\t''"
complete -c migrate -n "__fish_migrate_using_subcommand apply" -l recreate -d '(msk) Delete and create again a replicator that differs from the plan in what AWS cannot update; asks for confirmation unless --yes'
complete -c migrate -n "__fish_migrate_using_subcommand apply" -l no-wait -d '(msk) Create the replicators and return without waiting for RUNNING'
complete -c migrate -n "__fish_migrate_using_subcommand apply" -l create-secret -d '(msk) Create the replicator\'s secret (msk.scram_secret_arn) from the plan\'s source credentials and CA when it does not exist, encrypted with msk.secret_kms_key_arn'
complete -c migrate -n "__fish_migrate_using_subcommand apply" -s q -l quiet -d 'Print only errors'
complete -c migrate -n "__fish_migrate_using_subcommand apply" -s v -l verbose -d 'Print more (-v debug, -vv trace); RUST_LOG overrides'
complete -c migrate -n "__fish_migrate_using_subcommand apply" -l yes -d 'Answer yes to every confirmation'
complete -c migrate -n "__fish_migrate_using_subcommand apply" -l strict -d 'Treat warnings as failures'
complete -c migrate -n "__fish_migrate_using_subcommand apply" -s h -l help -d 'Print help'
complete -c migrate -n "__fish_migrate_using_subcommand apply" -s V -l version -d 'Print version'
complete -c migrate -n "__fish_migrate_using_subcommand status" -s p -l plan -d 'The migration plan (YAML)' -r -F
complete -c migrate -n "__fish_migrate_using_subcommand status" -l state-dir -d 'Where migrate keeps its state [default: the plan\'s `state_dir`, else .migrate/<name> beside the plan]' -r -F
complete -c migrate -n "__fish_migrate_using_subcommand status" -s o -l output -d 'Output format: a table for people, or one JSON document on stdout for programs' -r -f -a "table\t''
json\t''"
complete -c migrate -n "__fish_migrate_using_subcommand status" -l watch -d 'Refresh every 2 s, in place on a terminal'
complete -c migrate -n "__fish_migrate_using_subcommand status" -s q -l quiet -d 'Print only errors'
complete -c migrate -n "__fish_migrate_using_subcommand status" -s v -l verbose -d 'Print more (-v debug, -vv trace); RUST_LOG overrides'
complete -c migrate -n "__fish_migrate_using_subcommand status" -l yes -d 'Answer yes to every confirmation'
complete -c migrate -n "__fish_migrate_using_subcommand status" -l strict -d 'Treat warnings as failures'
complete -c migrate -n "__fish_migrate_using_subcommand status" -s h -l help -d 'Print help'
complete -c migrate -n "__fish_migrate_using_subcommand status" -s V -l version -d 'Print version'
complete -c migrate -n "__fish_migrate_using_subcommand verify" -s p -l plan -d 'The migration plan (YAML)' -r -F
complete -c migrate -n "__fish_migrate_using_subcommand verify" -l state-dir -d 'Where migrate keeps its state [default: the plan\'s `state_dir`, else .migrate/<name> beside the plan]' -r -F
complete -c migrate -n "__fish_migrate_using_subcommand verify" -s o -l output -d 'Output format: a table for people, or one JSON document on stdout for programs' -r -f -a "table\t''
json\t''"
complete -c migrate -n "__fish_migrate_using_subcommand verify" -s q -l quiet -d 'Print only errors'
complete -c migrate -n "__fish_migrate_using_subcommand verify" -s v -l verbose -d 'Print more (-v debug, -vv trace); RUST_LOG overrides'
complete -c migrate -n "__fish_migrate_using_subcommand verify" -l yes -d 'Answer yes to every confirmation'
complete -c migrate -n "__fish_migrate_using_subcommand verify" -l strict -d 'Treat warnings as failures'
complete -c migrate -n "__fish_migrate_using_subcommand verify" -s h -l help -d 'Print help'
complete -c migrate -n "__fish_migrate_using_subcommand verify" -s V -l version -d 'Print version'
complete -c migrate -n "__fish_migrate_using_subcommand cutover" -l wait -d 'Wait up to this long for the readiness gate (e.g. 90s, 5m) before refusing with exit 4' -r
complete -c migrate -n "__fish_migrate_using_subcommand cutover" -l fence-window -d 'How long the app\'s topics must stand still on the old side to prove it stopped' -r
complete -c migrate -n "__fish_migrate_using_subcommand cutover" -l fence-timeout -d 'How long the app may take to leave its groups on the old side' -r
complete -c migrate -n "__fish_migrate_using_subcommand cutover" -l drain-timeout -d 'How long replication may take to bring the app\'s records and offsets across' -r
complete -c migrate -n "__fish_migrate_using_subcommand cutover" -l verify-timeout -d 'How long the app may take to work on the new side' -r
complete -c migrate -n "__fish_migrate_using_subcommand cutover" -l hook-timeout -d 'How long each hook may run before it is killed' -r
complete -c migrate -n "__fish_migrate_using_subcommand cutover" -s p -l plan -d 'The migration plan (YAML)' -r -F
complete -c migrate -n "__fish_migrate_using_subcommand cutover" -l state-dir -d 'Where migrate keeps its state [default: the plan\'s `state_dir`, else .migrate/<name> beside the plan]' -r -F
complete -c migrate -n "__fish_migrate_using_subcommand cutover" -s o -l output -d 'Output format: a table for people, or one JSON document on stdout for programs' -r -f -a "table\t''
json\t''"
complete -c migrate -n "__fish_migrate_using_subcommand cutover" -l dry-run -d 'Print the steps without running them'
complete -c migrate -n "__fish_migrate_using_subcommand cutover" -l no-auto-revert -d 'On a failure after `stop`, leave the app where the move stopped instead of putting it back'
complete -c migrate -n "__fish_migrate_using_subcommand cutover" -l accept-uncopied-writes -d '(msk, cutover) Move although the reverse replicator may have missed writes on MSK to the topics of the app (an app producing to them ran there before it was RUNNING, or it is not RUNNING now)'
complete -c migrate -n "__fish_migrate_using_subcommand cutover" -s q -l quiet -d 'Print only errors'
complete -c migrate -n "__fish_migrate_using_subcommand cutover" -s v -l verbose -d 'Print more (-v debug, -vv trace); RUST_LOG overrides'
complete -c migrate -n "__fish_migrate_using_subcommand cutover" -l yes -d 'Answer yes to every confirmation'
complete -c migrate -n "__fish_migrate_using_subcommand cutover" -l strict -d 'Treat warnings as failures'
complete -c migrate -n "__fish_migrate_using_subcommand cutover" -s h -l help -d 'Print help'
complete -c migrate -n "__fish_migrate_using_subcommand cutover" -s V -l version -d 'Print version'
complete -c migrate -n "__fish_migrate_using_subcommand rollback" -l wait -d 'Wait up to this long for the readiness gate (e.g. 90s, 5m) before refusing with exit 4' -r
complete -c migrate -n "__fish_migrate_using_subcommand rollback" -l fence-window -d 'How long the app\'s topics must stand still on the old side to prove it stopped' -r
complete -c migrate -n "__fish_migrate_using_subcommand rollback" -l fence-timeout -d 'How long the app may take to leave its groups on the old side' -r
complete -c migrate -n "__fish_migrate_using_subcommand rollback" -l drain-timeout -d 'How long replication may take to bring the app\'s records and offsets across' -r
complete -c migrate -n "__fish_migrate_using_subcommand rollback" -l verify-timeout -d 'How long the app may take to work on the new side' -r
complete -c migrate -n "__fish_migrate_using_subcommand rollback" -l hook-timeout -d 'How long each hook may run before it is killed' -r
complete -c migrate -n "__fish_migrate_using_subcommand rollback" -s p -l plan -d 'The migration plan (YAML)' -r -F
complete -c migrate -n "__fish_migrate_using_subcommand rollback" -l state-dir -d 'Where migrate keeps its state [default: the plan\'s `state_dir`, else .migrate/<name> beside the plan]' -r -F
complete -c migrate -n "__fish_migrate_using_subcommand rollback" -s o -l output -d 'Output format: a table for people, or one JSON document on stdout for programs' -r -f -a "table\t''
json\t''"
complete -c migrate -n "__fish_migrate_using_subcommand rollback" -l dry-run -d 'Print the steps without running them'
complete -c migrate -n "__fish_migrate_using_subcommand rollback" -l no-auto-revert -d 'On a failure after `stop`, leave the app where the move stopped instead of putting it back'
complete -c migrate -n "__fish_migrate_using_subcommand rollback" -l accept-uncopied-writes -d '(msk, cutover) Move although the reverse replicator may have missed writes on MSK to the topics of the app (an app producing to them ran there before it was RUNNING, or it is not RUNNING now)'
complete -c migrate -n "__fish_migrate_using_subcommand rollback" -s q -l quiet -d 'Print only errors'
complete -c migrate -n "__fish_migrate_using_subcommand rollback" -s v -l verbose -d 'Print more (-v debug, -vv trace); RUST_LOG overrides'
complete -c migrate -n "__fish_migrate_using_subcommand rollback" -l yes -d 'Answer yes to every confirmation'
complete -c migrate -n "__fish_migrate_using_subcommand rollback" -l strict -d 'Treat warnings as failures'
complete -c migrate -n "__fish_migrate_using_subcommand rollback" -s h -l help -d 'Print help'
complete -c migrate -n "__fish_migrate_using_subcommand rollback" -s V -l version -d 'Print version'
complete -c migrate -n "__fish_migrate_using_subcommand teardown" -l wait-minutes -d '(msk) How long to wait for the replicators to disappear, in minutes' -r
complete -c migrate -n "__fish_migrate_using_subcommand teardown" -s p -l plan -d 'The migration plan (YAML)' -r -F
complete -c migrate -n "__fish_migrate_using_subcommand teardown" -l state-dir -d 'Where migrate keeps its state [default: the plan\'s `state_dir`, else .migrate/<name> beside the plan]' -r -F
complete -c migrate -n "__fish_migrate_using_subcommand teardown" -s o -l output -d 'Output format: a table for people, or one JSON document on stdout for programs' -r -f -a "table\t''
json\t''"
complete -c migrate -n "__fish_migrate_using_subcommand teardown" -l force -d 'Go on although some apps still run on the source (prints a warning)'
complete -c migrate -n "__fish_migrate_using_subcommand teardown" -l no-verify -d 'Skip `migrate verify` before removing anything'
complete -c migrate -n "__fish_migrate_using_subcommand teardown" -l delete-secrets -d '(msk) Also delete the secrets `apply --create-secret` created for this plan (recoverable for 7 days); secrets migrate did not create are never deleted'
complete -c migrate -n "__fish_migrate_using_subcommand teardown" -l remove-synced-acls -d 'Also delete the target ACLs `apply` created under `replication.acls: sync` (exactly those recorded in the state directory; no other ACL is ever deleted)'
complete -c migrate -n "__fish_migrate_using_subcommand teardown" -s q -l quiet -d 'Print only errors'
complete -c migrate -n "__fish_migrate_using_subcommand teardown" -s v -l verbose -d 'Print more (-v debug, -vv trace); RUST_LOG overrides'
complete -c migrate -n "__fish_migrate_using_subcommand teardown" -l yes -d 'Answer yes to every confirmation'
complete -c migrate -n "__fish_migrate_using_subcommand teardown" -l strict -d 'Treat warnings as failures'
complete -c migrate -n "__fish_migrate_using_subcommand teardown" -s h -l help -d 'Print help'
complete -c migrate -n "__fish_migrate_using_subcommand teardown" -s V -l version -d 'Print version'
complete -c migrate -n "__fish_migrate_using_subcommand completions" -s p -l plan -d 'The migration plan (YAML)' -r -F
complete -c migrate -n "__fish_migrate_using_subcommand completions" -l state-dir -d 'Where migrate keeps its state [default: the plan\'s `state_dir`, else .migrate/<name> beside the plan]' -r -F
complete -c migrate -n "__fish_migrate_using_subcommand completions" -s o -l output -d 'Output format: a table for people, or one JSON document on stdout for programs' -r -f -a "table\t''
json\t''"
complete -c migrate -n "__fish_migrate_using_subcommand completions" -s q -l quiet -d 'Print only errors'
complete -c migrate -n "__fish_migrate_using_subcommand completions" -s v -l verbose -d 'Print more (-v debug, -vv trace); RUST_LOG overrides'
complete -c migrate -n "__fish_migrate_using_subcommand completions" -l yes -d 'Answer yes to every confirmation'
complete -c migrate -n "__fish_migrate_using_subcommand completions" -l strict -d 'Treat warnings as failures'
complete -c migrate -n "__fish_migrate_using_subcommand completions" -s h -l help -d 'Print help'
complete -c migrate -n "__fish_migrate_using_subcommand completions" -s V -l version -d 'Print version'
complete -c migrate -n "__fish_migrate_using_subcommand help; and not __fish_seen_subcommand_from init validate plan render apply status verify cutover rollback teardown completions help" -f -a "init" -d 'Write a commented example plan for the three demo apps'
complete -c migrate -n "__fish_migrate_using_subcommand help; and not __fish_seen_subcommand_from init validate plan render apply status verify cutover rollback teardown completions help" -f -a "validate" -d 'Check the plan offline: syntax, fields, references, credentials present'
complete -c migrate -n "__fish_migrate_using_subcommand help; and not __fish_seen_subcommand_from init validate plan render apply status verify cutover rollback teardown completions help" -f -a "plan" -d 'Validate, run preflight against both clusters, and list what apply would do; changes nothing'
complete -c migrate -n "__fish_migrate_using_subcommand help; and not __fish_seen_subcommand_from init validate plan render apply status verify cutover rollback teardown completions help" -f -a "render" -d 'Write the exact `aws kafka create-replicator` inputs of an msk plan, both directions, and the role\'s IAM policies; offline, changes nothing'
complete -c migrate -n "__fish_migrate_using_subcommand help; and not __fish_seen_subcommand_from init validate plan render apply status verify cutover rollback teardown completions help" -f -a "apply" -d 'Validate, preflight, then replicate: embedded, in the foreground until SIGINT/SIGTERM; msk, create both MSK Replicators and wait until they run'
complete -c migrate -n "__fish_migrate_using_subcommand help; and not __fish_seen_subcommand_from init validate plan render apply status verify cutover rollback teardown completions help" -f -a "status" -d 'Show the running engine\'s health (MSK Replicator\'s metric names) and where each app runs'
complete -c migrate -n "__fish_migrate_using_subcommand help; and not __fish_seen_subcommand_from init validate plan render apply status verify cutover rollback teardown completions help" -f -a "verify" -d 'Compare source and target partition by partition, both directions, up to what is replicated'
complete -c migrate -n "__fish_migrate_using_subcommand help; and not __fish_seen_subcommand_from init validate plan render apply status verify cutover rollback teardown completions help" -f -a "cutover" -d 'Move an app to the target: gate, stop, fence, drain, switch, start, verify (resumable)'
complete -c migrate -n "__fish_migrate_using_subcommand help; and not __fish_seen_subcommand_from init validate plan render apply status verify cutover rollback teardown completions help" -f -a "rollback" -d 'Move an app back to the source, the same way (resumable; also undoes an unfinished cutover)'
complete -c migrate -n "__fish_migrate_using_subcommand help; and not __fish_seen_subcommand_from init validate plan render apply status verify cutover rollback teardown completions help" -f -a "teardown" -d 'Remove what the migration created once every app runs on the target: the replicators (msk) or the engine\'s state (embedded); never the clusters or the role, and secrets only with --delete-secrets (only those `apply --create-secret` created)'
complete -c migrate -n "__fish_migrate_using_subcommand help; and not __fish_seen_subcommand_from init validate plan render apply status verify cutover rollback teardown completions help" -f -a "completions" -d 'Print a shell completion script'
complete -c migrate -n "__fish_migrate_using_subcommand help; and not __fish_seen_subcommand_from init validate plan render apply status verify cutover rollback teardown completions help" -f -a "help" -d 'Print this message or the help of the given subcommand(s)'
