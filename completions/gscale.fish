# Print an optspec for argparse to handle cmd's options that are independent of any subcommand.
function __fish_gscale_global_optspecs
    string join \n kubeconfig= context= cluster= user= log-format= h/help V/version
end

function __fish_gscale_needs_command
    # Figure out if the current invocation already has a command.
    set -l cmd (commandline -opc)
    set -e cmd[1]
    argparse -s (__fish_gscale_global_optspecs) -- $cmd 2>/dev/null
    or return
    if set -q argv[1]
        # Also print the command, so this can be used to figure out what it is.
        echo $argv[1]
        return 1
    end
    return 0
end

function __fish_gscale_using_subcommand
    set -l cmd (__fish_gscale_needs_command)
    test -z "$cmd"
    and return 1
    contains -- $cmd[1] $argv
end

complete -c gscale -n "__fish_gscale_needs_command" -l kubeconfig -d 'Path to the kubeconfig file' -r -F
complete -c gscale -n "__fish_gscale_needs_command" -l context -d 'The kubeconfig context to use' -r
complete -c gscale -n "__fish_gscale_needs_command" -l cluster -d 'The kubeconfig cluster to use' -r
complete -c gscale -n "__fish_gscale_needs_command" -l user -d 'The kubeconfig user to use' -r
complete -c gscale -n "__fish_gscale_needs_command" -l log-format -d 'Log format on stderr' -r -f -a "text\t'Human-readable lines'
json\t'One JSON object per line'"
complete -c gscale -n "__fish_gscale_needs_command" -s h -l help -d 'Print help (see more with \'--help\')'
complete -c gscale -n "__fish_gscale_needs_command" -s V -l version -d 'Print version'
complete -c gscale -n "__fish_gscale_needs_command" -f -a "install" -d 'Install or upgrade gscale in the cluster: namespace, CRD, RBAC, the daemon\'s Deployment, its PodDisruptionBudget and metrics Service (server-side apply, printing what changed)'
complete -c gscale -n "__fish_gscale_needs_command" -f -a "uninstall" -d 'Remove what `gscale install` made; the CRD and the scalers stay unless --crd'
complete -c gscale -n "__fish_gscale_needs_command" -f -a "install-crd" -d 'Install or update the GeneralScaler CRD (server-side apply) and wait until it is Established'
complete -c gscale -n "__fish_gscale_needs_command" -f -a "run" -d 'Run the autoscaler: watch GeneralScalers, read metrics, decide, scale'
complete -c gscale -n "__fish_gscale_needs_command" -f -a "plan" -d 'Show what a scaler would do now and why, stage by stage, changing nothing'
complete -c gscale -n "__fish_gscale_needs_command" -f -a "status" -d 'List scalers: current -> desired, metrics vs targets, last scale, conditions'
complete -c gscale -n "__fish_gscale_needs_command" -f -a "validate" -d 'Check GeneralScaler manifests offline, with line-precise messages and fixes'
complete -c gscale -n "__fish_gscale_needs_command" -f -a "simulate" -d 'Replay a load trace through a scaler\'s decisions, with no cluster at all'
complete -c gscale -n "__fish_gscale_needs_command" -f -a "demo" -d 'Watch gscale scale a demo workload on this machine, with no cluster'
complete -c gscale -n "__fish_gscale_needs_command" -f -a "import" -d 'Turn HorizontalPodAutoscalers and KEDA ScaledObjects into GeneralScalers (YAML on stdout)'
complete -c gscale -n "__fish_gscale_needs_command" -f -a "completions" -d 'Print shell completions'
complete -c gscale -n "__fish_gscale_needs_command" -f -a "man" -d 'Print the man page (roff); `man -l -` reads it'
complete -c gscale -n "__fish_gscale_needs_command" -f -a "generate" -d 'Write every completion script, man page and examples/deploy manifest into DIR (the committed copies)'
complete -c gscale -n "__fish_gscale_needs_command" -f -a "sandbox" -d 'Serve an in-memory Kubernetes API on 127.0.0.1 and write its kubeconfig to --kubeconfig FILE'
complete -c gscale -n "__fish_gscale_needs_command" -f -a "help" -d 'Print this message or the help of the given subcommand(s)'
complete -c gscale -n "__fish_gscale_using_subcommand install" -s n -l namespace -d 'Namespace of the daemon, its ServiceAccount and its leader-election Leases' -r
complete -c gscale -n "__fish_gscale_using_subcommand install" -l image -d 'Image holding the gscale binary (the repository\'s Dockerfile builds it)' -r
complete -c gscale -n "__fish_gscale_using_subcommand install" -l replicas -d 'Replicas of the daemon: one leads, the others take over within the lease duration' -r
complete -c gscale -n "__fish_gscale_using_subcommand install" -l shards -d 'Run the replicas with automatic shards (`auto`): each decides for a share of the scalers, and a stopped one\'s share is taken over within the lease duration' -r
complete -c gscale -n "__fish_gscale_using_subcommand install" -l cpu-request -d 'CPU request of the daemon (a Kubernetes quantity)' -r
complete -c gscale -n "__fish_gscale_using_subcommand install" -l memory-request -d 'Memory request of the daemon' -r
complete -c gscale -n "__fish_gscale_using_subcommand install" -l memory-limit -d 'Memory limit of the daemon' -r
complete -c gscale -n "__fish_gscale_using_subcommand install" -l wait -d 'Seconds to wait for the CRD to become Established (0: do not wait)' -r
complete -c gscale -n "__fish_gscale_using_subcommand install" -l kubeconfig -d 'Path to the kubeconfig file' -r -F
complete -c gscale -n "__fish_gscale_using_subcommand install" -l context -d 'The kubeconfig context to use' -r
complete -c gscale -n "__fish_gscale_using_subcommand install" -l cluster -d 'The kubeconfig cluster to use' -r
complete -c gscale -n "__fish_gscale_using_subcommand install" -l user -d 'The kubeconfig user to use' -r
complete -c gscale -n "__fish_gscale_using_subcommand install" -l log-format -d 'Log format on stderr' -r -f -a "text\t'Human-readable lines'
json\t'One JSON object per line'"
complete -c gscale -n "__fish_gscale_using_subcommand install" -l print -d 'Print the objects as YAML and exit, touching no cluster (`| kubectl apply -f -` works)'
complete -c gscale -n "__fish_gscale_using_subcommand install" -l service-monitor -d 'Also a ServiceMonitor for the metrics Service (needs the Prometheus Operator\'s CRDs)'
complete -c gscale -n "__fish_gscale_using_subcommand install" -l prometheus-rule -d 'Also a PrometheusRule with gscale\'s alert rules (needs the Prometheus Operator\'s CRDs)'
complete -c gscale -n "__fish_gscale_using_subcommand install" -s h -l help -d 'Print help (see more with \'--help\')'
complete -c gscale -n "__fish_gscale_using_subcommand install" -s V -l version -d 'Print version'
complete -c gscale -n "__fish_gscale_using_subcommand uninstall" -s n -l namespace -d 'Namespace gscale was installed into' -r
complete -c gscale -n "__fish_gscale_using_subcommand uninstall" -l kubeconfig -d 'Path to the kubeconfig file' -r -F
complete -c gscale -n "__fish_gscale_using_subcommand uninstall" -l context -d 'The kubeconfig context to use' -r
complete -c gscale -n "__fish_gscale_using_subcommand uninstall" -l cluster -d 'The kubeconfig cluster to use' -r
complete -c gscale -n "__fish_gscale_using_subcommand uninstall" -l user -d 'The kubeconfig user to use' -r
complete -c gscale -n "__fish_gscale_using_subcommand uninstall" -l log-format -d 'Log format on stderr' -r -f -a "text\t'Human-readable lines'
json\t'One JSON object per line'"
complete -c gscale -n "__fish_gscale_using_subcommand uninstall" -l crd -d 'Also delete the GeneralScaler CRD, and with it every scaler in the cluster'
complete -c gscale -n "__fish_gscale_using_subcommand uninstall" -s h -l help -d 'Print help (see more with \'--help\')'
complete -c gscale -n "__fish_gscale_using_subcommand uninstall" -s V -l version -d 'Print version'
complete -c gscale -n "__fish_gscale_using_subcommand install-crd" -l wait -d 'Seconds to wait for the CRD to become Established (0: do not wait)' -r
complete -c gscale -n "__fish_gscale_using_subcommand install-crd" -l kubeconfig -d 'Path to the kubeconfig file' -r -F
complete -c gscale -n "__fish_gscale_using_subcommand install-crd" -l context -d 'The kubeconfig context to use' -r
complete -c gscale -n "__fish_gscale_using_subcommand install-crd" -l cluster -d 'The kubeconfig cluster to use' -r
complete -c gscale -n "__fish_gscale_using_subcommand install-crd" -l user -d 'The kubeconfig user to use' -r
complete -c gscale -n "__fish_gscale_using_subcommand install-crd" -l log-format -d 'Log format on stderr' -r -f -a "text\t'Human-readable lines'
json\t'One JSON object per line'"
complete -c gscale -n "__fish_gscale_using_subcommand install-crd" -l print -d 'Print the CRD as YAML and exit, touching no cluster'
complete -c gscale -n "__fish_gscale_using_subcommand install-crd" -s h -l help -d 'Print help (see more with \'--help\')'
complete -c gscale -n "__fish_gscale_using_subcommand install-crd" -s V -l version -d 'Print version'
complete -c gscale -n "__fish_gscale_using_subcommand run" -s n -l namespace -d 'Namespace to watch (default: all namespaces)' -r
complete -c gscale -n "__fish_gscale_using_subcommand run" -s l -l selector -d 'Only scalers with these labels (kubectl selector syntax)' -r
complete -c gscale -n "__fish_gscale_using_subcommand run" -l metrics-addr -d 'Serve the daemon\'s own Prometheus metrics, /healthz and /readyz here' -r
complete -c gscale -n "__fish_gscale_using_subcommand run" -l shard -d 'Handle only the scalers of shard i of N (hash of namespace/name), e.g. 0/2' -r
complete -c gscale -n "__fish_gscale_using_subcommand run" -l shards -d 'Share the scalers among every running replica (`auto`): each holds a Lease of its own, and a replica that stops has its scalers taken over by the others within the lease duration' -r
complete -c gscale -n "__fish_gscale_using_subcommand run" -l lease-namespace -d 'Namespace of the leader-election Lease (default: $POD_NAMESPACE, else default)' -r
complete -c gscale -n "__fish_gscale_using_subcommand run" -l lease-duration -d 'Seconds a leader is trusted without renewing; a follower takes over after this' -r
complete -c gscale -n "__fish_gscale_using_subcommand run" -l namespace-concurrency -d 'Reconciles one namespace may have in flight at once, of the daemon\'s 256: a namespace whose metrics all hang holds no more, and the others\' scalers go on' -r
complete -c gscale -n "__fish_gscale_using_subcommand run" -l request-timeout -d 'Seconds one Kubernetes API call (a watch aside) may take before it is cut and logged; a scaler\'s own calls are cut sooner, at its syncIntervalSeconds' -r
complete -c gscale -n "__fish_gscale_using_subcommand run" -l max-metric-reply-bytes -d 'Longest metric reply read (Prometheus, HTTP, Redis), in bytes; a longer one is an error, not read on' -r
complete -c gscale -n "__fish_gscale_using_subcommand run" -l max-metric-timeout -d 'The most seconds one metric read may take, whatever a scaler\'s timeoutSeconds asks (at most 60, the CRD\'s maximum); lower it to bound how long a hanging backend holds its scalers' -r
complete -c gscale -n "__fish_gscale_using_subcommand run" -l allow-metric-host -d 'Let metric URLs reach this address, network (CIDR) or host name, though a default denies it (link-local and cloud metadata are denied by default); repeatable, or comma-separated' -r
complete -c gscale -n "__fish_gscale_using_subcommand run" -l deny-metric-host -d 'Keep metric URLs from reaching this address, network (CIDR) or host name; the most specific rule wins (deny 0.0.0.0/0 and allow a few networks for an allow list); repeatable' -r
complete -c gscale -n "__fish_gscale_using_subcommand run" -l kubeconfig -d 'Path to the kubeconfig file' -r -F
complete -c gscale -n "__fish_gscale_using_subcommand run" -l context -d 'The kubeconfig context to use' -r
complete -c gscale -n "__fish_gscale_using_subcommand run" -l cluster -d 'The kubeconfig cluster to use' -r
complete -c gscale -n "__fish_gscale_using_subcommand run" -l user -d 'The kubeconfig user to use' -r
complete -c gscale -n "__fish_gscale_using_subcommand run" -l log-format -d 'Log format on stderr' -r -f -a "text\t'Human-readable lines'
json\t'One JSON object per line'"
complete -c gscale -n "__fish_gscale_using_subcommand run" -s A -l all-namespaces -d 'Watch every namespace (the default)'
complete -c gscale -n "__fish_gscale_using_subcommand run" -l once -d 'One pass over every scaler, then exit'
complete -c gscale -n "__fish_gscale_using_subcommand run" -l dry-run -d 'Decide and record, never scale'
complete -c gscale -n "__fish_gscale_using_subcommand run" -l no-leader-election -d 'Run without leader election (only when one daemon is certain)'
complete -c gscale -n "__fish_gscale_using_subcommand run" -l metric-proxy-from-environment -d 'Send Prometheus and HTTP metric requests through the proxy HTTPS_PROXY, HTTP_PROXY, ALL_PROXY and NO_PROXY name (without it they ignore those variables); the host policy still applies to each target host'
complete -c gscale -n "__fish_gscale_using_subcommand run" -s h -l help -d 'Print help (see more with \'--help\')'
complete -c gscale -n "__fish_gscale_using_subcommand run" -s V -l version -d 'Print version'
complete -c gscale -n "__fish_gscale_using_subcommand plan" -s f -l filename -d 'A scaler manifest not applied yet' -r -F
complete -c gscale -n "__fish_gscale_using_subcommand plan" -s n -l namespace -d 'Namespace of the scaler' -r
complete -c gscale -n "__fish_gscale_using_subcommand plan" -l current -d 'With -f: the replica count to plan from when the target does not exist yet' -r
complete -c gscale -n "__fish_gscale_using_subcommand plan" -l replay -d 'Replay this much history (e.g. 24h): Prometheus\'s, or Cloud Monitoring\'s for Pub/Sub. A forecasting scaler starts from the days before it, as the daemon would have backfilled them' -r
complete -c gscale -n "__fish_gscale_using_subcommand plan" -l step -d 'Replay step (e.g. 1m)' -r
complete -c gscale -n "__fish_gscale_using_subcommand plan" -l plot -d 'Write the replay as an SVG plot' -r -F
complete -c gscale -n "__fish_gscale_using_subcommand plan" -l against -d 'With --replay: step a reference autoscaler over the same history beside gscale (hpa)' -r
complete -c gscale -n "__fish_gscale_using_subcommand plan" -s o -l output -d 'Output format' -r -f -a "table\t'A table'
wide\t'A table with more columns'
json\t'JSON'
yaml\t'YAML'"
complete -c gscale -n "__fish_gscale_using_subcommand plan" -l kubeconfig -d 'Path to the kubeconfig file' -r -F
complete -c gscale -n "__fish_gscale_using_subcommand plan" -l context -d 'The kubeconfig context to use' -r
complete -c gscale -n "__fish_gscale_using_subcommand plan" -l cluster -d 'The kubeconfig cluster to use' -r
complete -c gscale -n "__fish_gscale_using_subcommand plan" -l user -d 'The kubeconfig user to use' -r
complete -c gscale -n "__fish_gscale_using_subcommand plan" -l log-format -d 'Log format on stderr' -r -f -a "text\t'Human-readable lines'
json\t'One JSON object per line'"
complete -c gscale -n "__fish_gscale_using_subcommand plan" -s h -l help -d 'Print help (see more with \'--help\')'
complete -c gscale -n "__fish_gscale_using_subcommand plan" -s V -l version -d 'Print version'
complete -c gscale -n "__fish_gscale_using_subcommand status" -s n -l namespace -d 'Namespace' -r
complete -c gscale -n "__fish_gscale_using_subcommand status" -s l -l selector -d 'Only scalers with these labels' -r
complete -c gscale -n "__fish_gscale_using_subcommand status" -s o -l output -d 'Output format' -r -f -a "table\t'A table'
wide\t'A table with more columns'
json\t'JSON'
yaml\t'YAML'"
complete -c gscale -n "__fish_gscale_using_subcommand status" -l kubeconfig -d 'Path to the kubeconfig file' -r -F
complete -c gscale -n "__fish_gscale_using_subcommand status" -l context -d 'The kubeconfig context to use' -r
complete -c gscale -n "__fish_gscale_using_subcommand status" -l cluster -d 'The kubeconfig cluster to use' -r
complete -c gscale -n "__fish_gscale_using_subcommand status" -l user -d 'The kubeconfig user to use' -r
complete -c gscale -n "__fish_gscale_using_subcommand status" -l log-format -d 'Log format on stderr' -r -f -a "text\t'Human-readable lines'
json\t'One JSON object per line'"
complete -c gscale -n "__fish_gscale_using_subcommand status" -s A -l all-namespaces -d 'Every namespace'
complete -c gscale -n "__fish_gscale_using_subcommand status" -s w -l watch -d 'Keep watching and redraw'
complete -c gscale -n "__fish_gscale_using_subcommand status" -s h -l help -d 'Print help (see more with \'--help\')'
complete -c gscale -n "__fish_gscale_using_subcommand status" -s V -l version -d 'Print version'
complete -c gscale -n "__fish_gscale_using_subcommand validate" -s f -l filename -d 'Manifests to check (multi-document YAML); `-` reads stdin' -r -F
complete -c gscale -n "__fish_gscale_using_subcommand validate" -l kubeconfig -d 'Path to the kubeconfig file' -r -F
complete -c gscale -n "__fish_gscale_using_subcommand validate" -l context -d 'The kubeconfig context to use' -r
complete -c gscale -n "__fish_gscale_using_subcommand validate" -l cluster -d 'The kubeconfig cluster to use' -r
complete -c gscale -n "__fish_gscale_using_subcommand validate" -l user -d 'The kubeconfig user to use' -r
complete -c gscale -n "__fish_gscale_using_subcommand validate" -l log-format -d 'Log format on stderr' -r -f -a "text\t'Human-readable lines'
json\t'One JSON object per line'"
complete -c gscale -n "__fish_gscale_using_subcommand validate" -s q -l quiet -d 'Print only problems, not the valid documents'
complete -c gscale -n "__fish_gscale_using_subcommand validate" -s h -l help -d 'Print help (see more with \'--help\')'
complete -c gscale -n "__fish_gscale_using_subcommand validate" -s V -l version -d 'Print version'
complete -c gscale -n "__fish_gscale_using_subcommand simulate" -s f -l file -d 'The scaler manifest' -r -F
complete -c gscale -n "__fish_gscale_using_subcommand simulate" -l trace -d 'Load trace, CSV `timestamp,value`' -r -F
complete -c gscale -n "__fish_gscale_using_subcommand simulate" -l capacity-per-pod -d 'Units one pod serves per second' -r
complete -c gscale -n "__fish_gscale_using_subcommand simulate" -l pod-start -d 'Delay before a new pod serves (e.g. 30s)' -r
complete -c gscale -n "__fish_gscale_using_subcommand simulate" -l compress -d 'Time compression, trace step = simulated step (e.g. 5m=15s)' -r
complete -c gscale -n "__fish_gscale_using_subcommand simulate" -l scale-demand -d 'Multiply demand by this factor' -r
complete -c gscale -n "__fish_gscale_using_subcommand simulate" -l noise -d 'Correlated multiplicative noise on demand, e.g. 3% or 0.03 (0: none)' -r
complete -c gscale -n "__fish_gscale_using_subcommand simulate" -l noise-correlation -d 'How long the noise takes to forget itself' -r
complete -c gscale -n "__fish_gscale_using_subcommand simulate" -l seed -d 'Seed of the noise: the same seed replays the same run' -r
complete -c gscale -n "__fish_gscale_using_subcommand simulate" -l reading -d 'What the metric reports of demand: auto (as its source does), instant, rate[=SCRAPE/WINDOW], period[=PERIOD+DELAY], sampled[=EVERY+DELAY]' -r
complete -c gscale -n "__fish_gscale_using_subcommand simulate" -l against -d 'Compare with a reference autoscaler' -r
complete -c gscale -n "__fish_gscale_using_subcommand simulate" -l plot -d 'Write an SVG plot' -r -F
complete -c gscale -n "__fish_gscale_using_subcommand simulate" -s o -l output -d 'Output format' -r -f -a "table\t'A table'
wide\t'A table with more columns'
json\t'JSON'
yaml\t'YAML'"
complete -c gscale -n "__fish_gscale_using_subcommand simulate" -l kubeconfig -d 'Path to the kubeconfig file' -r -F
complete -c gscale -n "__fish_gscale_using_subcommand simulate" -l context -d 'The kubeconfig context to use' -r
complete -c gscale -n "__fish_gscale_using_subcommand simulate" -l cluster -d 'The kubeconfig cluster to use' -r
complete -c gscale -n "__fish_gscale_using_subcommand simulate" -l user -d 'The kubeconfig user to use' -r
complete -c gscale -n "__fish_gscale_using_subcommand simulate" -l log-format -d 'Log format on stderr' -r -f -a "text\t'Human-readable lines'
json\t'One JSON object per line'"
complete -c gscale -n "__fish_gscale_using_subcommand simulate" -l hold -d 'Hold each trace point for its whole step (the step replay) instead of moving linearly to the next'
complete -c gscale -n "__fish_gscale_using_subcommand simulate" -s h -l help -d 'Print help (see more with \'--help\')'
complete -c gscale -n "__fish_gscale_using_subcommand simulate" -s V -l version -d 'Print version'
complete -c gscale -n "__fish_gscale_using_subcommand demo" -l duration -d 'Stop after this long (e.g. 60s); default: until Ctrl-C' -r
complete -c gscale -n "__fish_gscale_using_subcommand demo" -l redis -d 'Drive a real Redis list at this URL instead of the embedded HTTP metric' -r
complete -c gscale -n "__fish_gscale_using_subcommand demo" -l wave-period -d 'Length of one load wave (tests use a short one); the scaler\'s timings follow it' -r
complete -c gscale -n "__fish_gscale_using_subcommand demo" -l kubeconfig -d 'Path to the kubeconfig file' -r -F
complete -c gscale -n "__fish_gscale_using_subcommand demo" -l context -d 'The kubeconfig context to use' -r
complete -c gscale -n "__fish_gscale_using_subcommand demo" -l cluster -d 'The kubeconfig cluster to use' -r
complete -c gscale -n "__fish_gscale_using_subcommand demo" -l user -d 'The kubeconfig user to use' -r
complete -c gscale -n "__fish_gscale_using_subcommand demo" -l log-format -d 'Log format on stderr' -r -f -a "text\t'Human-readable lines'
json\t'One JSON object per line'"
complete -c gscale -n "__fish_gscale_using_subcommand demo" -s h -l help -d 'Print help (see more with \'--help\')'
complete -c gscale -n "__fish_gscale_using_subcommand demo" -s V -l version -d 'Print version'
complete -c gscale -n "__fish_gscale_using_subcommand import" -s f -l filename -d 'Manifests of HPAs and ScaledObjects (and the TriggerAuthentications they name); `-` reads stdin' -r -F
complete -c gscale -n "__fish_gscale_using_subcommand import" -s n -l namespace -d 'Namespace to read from, and of the scalers printed' -r
complete -c gscale -n "__fish_gscale_using_subcommand import" -l prometheus-url -d 'Prometheus serving the HPA\'s custom and external metrics and cAdvisor\'s CPU and memory' -r
complete -c gscale -n "__fish_gscale_using_subcommand import" -l kubeconfig -d 'Path to the kubeconfig file' -r -F
complete -c gscale -n "__fish_gscale_using_subcommand import" -l context -d 'The kubeconfig context to use' -r
complete -c gscale -n "__fish_gscale_using_subcommand import" -l cluster -d 'The kubeconfig cluster to use' -r
complete -c gscale -n "__fish_gscale_using_subcommand import" -l user -d 'The kubeconfig user to use' -r
complete -c gscale -n "__fish_gscale_using_subcommand import" -l log-format -d 'Log format on stderr' -r -f -a "text\t'Human-readable lines'
json\t'One JSON object per line'"
complete -c gscale -n "__fish_gscale_using_subcommand import" -l all -d 'Every HPA and ScaledObject of the namespace'
complete -c gscale -n "__fish_gscale_using_subcommand import" -l strict -d 'Exit 1 when any field could not be mapped'
complete -c gscale -n "__fish_gscale_using_subcommand import" -s h -l help -d 'Print help (see more with \'--help\')'
complete -c gscale -n "__fish_gscale_using_subcommand import" -s V -l version -d 'Print version'
complete -c gscale -n "__fish_gscale_using_subcommand completions" -l kubeconfig -d 'Path to the kubeconfig file' -r -F
complete -c gscale -n "__fish_gscale_using_subcommand completions" -l context -d 'The kubeconfig context to use' -r
complete -c gscale -n "__fish_gscale_using_subcommand completions" -l cluster -d 'The kubeconfig cluster to use' -r
complete -c gscale -n "__fish_gscale_using_subcommand completions" -l user -d 'The kubeconfig user to use' -r
complete -c gscale -n "__fish_gscale_using_subcommand completions" -l log-format -d 'Log format on stderr' -r -f -a "text\t'Human-readable lines'
json\t'One JSON object per line'"
complete -c gscale -n "__fish_gscale_using_subcommand completions" -s h -l help -d 'Print help (see more with \'--help\')'
complete -c gscale -n "__fish_gscale_using_subcommand completions" -s V -l version -d 'Print version'
complete -c gscale -n "__fish_gscale_using_subcommand man" -l kubeconfig -d 'Path to the kubeconfig file' -r -F
complete -c gscale -n "__fish_gscale_using_subcommand man" -l context -d 'The kubeconfig context to use' -r
complete -c gscale -n "__fish_gscale_using_subcommand man" -l cluster -d 'The kubeconfig cluster to use' -r
complete -c gscale -n "__fish_gscale_using_subcommand man" -l user -d 'The kubeconfig user to use' -r
complete -c gscale -n "__fish_gscale_using_subcommand man" -l log-format -d 'Log format on stderr' -r -f -a "text\t'Human-readable lines'
json\t'One JSON object per line'"
complete -c gscale -n "__fish_gscale_using_subcommand man" -s h -l help -d 'Print help (see more with \'--help\')'
complete -c gscale -n "__fish_gscale_using_subcommand man" -s V -l version -d 'Print version'
complete -c gscale -n "__fish_gscale_using_subcommand generate" -l kubeconfig -d 'Path to the kubeconfig file' -r -F
complete -c gscale -n "__fish_gscale_using_subcommand generate" -l context -d 'The kubeconfig context to use' -r
complete -c gscale -n "__fish_gscale_using_subcommand generate" -l cluster -d 'The kubeconfig cluster to use' -r
complete -c gscale -n "__fish_gscale_using_subcommand generate" -l user -d 'The kubeconfig user to use' -r
complete -c gscale -n "__fish_gscale_using_subcommand generate" -l log-format -d 'Log format on stderr' -r -f -a "text\t'Human-readable lines'
json\t'One JSON object per line'"
complete -c gscale -n "__fish_gscale_using_subcommand generate" -s h -l help -d 'Print help (see more with \'--help\')'
complete -c gscale -n "__fish_gscale_using_subcommand generate" -s V -l version -d 'Print version'
complete -c gscale -n "__fish_gscale_using_subcommand sandbox" -l port -d 'Port on 127.0.0.1 (default: a free one)' -r
complete -c gscale -n "__fish_gscale_using_subcommand sandbox" -l replica-delay-ms -d 'Milliseconds before a workload\'s status follows a change of spec.replicas' -r
complete -c gscale -n "__fish_gscale_using_subcommand sandbox" -l kubeconfig -d 'Path to the kubeconfig file' -r -F
complete -c gscale -n "__fish_gscale_using_subcommand sandbox" -l context -d 'The kubeconfig context to use' -r
complete -c gscale -n "__fish_gscale_using_subcommand sandbox" -l cluster -d 'The kubeconfig cluster to use' -r
complete -c gscale -n "__fish_gscale_using_subcommand sandbox" -l user -d 'The kubeconfig user to use' -r
complete -c gscale -n "__fish_gscale_using_subcommand sandbox" -l log-format -d 'Log format on stderr' -r -f -a "text\t'Human-readable lines'
json\t'One JSON object per line'"
complete -c gscale -n "__fish_gscale_using_subcommand sandbox" -s h -l help -d 'Print help (see more with \'--help\')'
complete -c gscale -n "__fish_gscale_using_subcommand sandbox" -s V -l version -d 'Print version'
complete -c gscale -n "__fish_gscale_using_subcommand help; and not __fish_seen_subcommand_from install uninstall install-crd run plan status validate simulate demo import completions man generate sandbox help" -f -a "install" -d 'Install or upgrade gscale in the cluster: namespace, CRD, RBAC, the daemon\'s Deployment, its PodDisruptionBudget and metrics Service (server-side apply, printing what changed)'
complete -c gscale -n "__fish_gscale_using_subcommand help; and not __fish_seen_subcommand_from install uninstall install-crd run plan status validate simulate demo import completions man generate sandbox help" -f -a "uninstall" -d 'Remove what `gscale install` made; the CRD and the scalers stay unless --crd'
complete -c gscale -n "__fish_gscale_using_subcommand help; and not __fish_seen_subcommand_from install uninstall install-crd run plan status validate simulate demo import completions man generate sandbox help" -f -a "install-crd" -d 'Install or update the GeneralScaler CRD (server-side apply) and wait until it is Established'
complete -c gscale -n "__fish_gscale_using_subcommand help; and not __fish_seen_subcommand_from install uninstall install-crd run plan status validate simulate demo import completions man generate sandbox help" -f -a "run" -d 'Run the autoscaler: watch GeneralScalers, read metrics, decide, scale'
complete -c gscale -n "__fish_gscale_using_subcommand help; and not __fish_seen_subcommand_from install uninstall install-crd run plan status validate simulate demo import completions man generate sandbox help" -f -a "plan" -d 'Show what a scaler would do now and why, stage by stage, changing nothing'
complete -c gscale -n "__fish_gscale_using_subcommand help; and not __fish_seen_subcommand_from install uninstall install-crd run plan status validate simulate demo import completions man generate sandbox help" -f -a "status" -d 'List scalers: current -> desired, metrics vs targets, last scale, conditions'
complete -c gscale -n "__fish_gscale_using_subcommand help; and not __fish_seen_subcommand_from install uninstall install-crd run plan status validate simulate demo import completions man generate sandbox help" -f -a "validate" -d 'Check GeneralScaler manifests offline, with line-precise messages and fixes'
complete -c gscale -n "__fish_gscale_using_subcommand help; and not __fish_seen_subcommand_from install uninstall install-crd run plan status validate simulate demo import completions man generate sandbox help" -f -a "simulate" -d 'Replay a load trace through a scaler\'s decisions, with no cluster at all'
complete -c gscale -n "__fish_gscale_using_subcommand help; and not __fish_seen_subcommand_from install uninstall install-crd run plan status validate simulate demo import completions man generate sandbox help" -f -a "demo" -d 'Watch gscale scale a demo workload on this machine, with no cluster'
complete -c gscale -n "__fish_gscale_using_subcommand help; and not __fish_seen_subcommand_from install uninstall install-crd run plan status validate simulate demo import completions man generate sandbox help" -f -a "import" -d 'Turn HorizontalPodAutoscalers and KEDA ScaledObjects into GeneralScalers (YAML on stdout)'
complete -c gscale -n "__fish_gscale_using_subcommand help; and not __fish_seen_subcommand_from install uninstall install-crd run plan status validate simulate demo import completions man generate sandbox help" -f -a "completions" -d 'Print shell completions'
complete -c gscale -n "__fish_gscale_using_subcommand help; and not __fish_seen_subcommand_from install uninstall install-crd run plan status validate simulate demo import completions man generate sandbox help" -f -a "man" -d 'Print the man page (roff); `man -l -` reads it'
complete -c gscale -n "__fish_gscale_using_subcommand help; and not __fish_seen_subcommand_from install uninstall install-crd run plan status validate simulate demo import completions man generate sandbox help" -f -a "generate" -d 'Write every completion script, man page and examples/deploy manifest into DIR (the committed copies)'
complete -c gscale -n "__fish_gscale_using_subcommand help; and not __fish_seen_subcommand_from install uninstall install-crd run plan status validate simulate demo import completions man generate sandbox help" -f -a "sandbox" -d 'Serve an in-memory Kubernetes API on 127.0.0.1 and write its kubeconfig to --kubeconfig FILE'
complete -c gscale -n "__fish_gscale_using_subcommand help; and not __fish_seen_subcommand_from install uninstall install-crd run plan status validate simulate demo import completions man generate sandbox help" -f -a "help" -d 'Print this message or the help of the given subcommand(s)'
