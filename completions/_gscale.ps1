
using namespace System.Management.Automation
using namespace System.Management.Automation.Language

Register-ArgumentCompleter -Native -CommandName 'gscale' -ScriptBlock {
    param($wordToComplete, $commandAst, $cursorPosition)

    $commandElements = $commandAst.CommandElements
    $command = @(
        'gscale'
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
        'gscale' {
            [CompletionResult]::new('--kubeconfig', '--kubeconfig', [CompletionResultType]::ParameterName, 'Path to the kubeconfig file')
            [CompletionResult]::new('--context', '--context', [CompletionResultType]::ParameterName, 'The kubeconfig context to use')
            [CompletionResult]::new('--cluster', '--cluster', [CompletionResultType]::ParameterName, 'The kubeconfig cluster to use')
            [CompletionResult]::new('--user', '--user', [CompletionResultType]::ParameterName, 'The kubeconfig user to use')
            [CompletionResult]::new('--log-format', '--log-format', [CompletionResultType]::ParameterName, 'Log format on stderr')
            [CompletionResult]::new('-h', '-h', [CompletionResultType]::ParameterName, 'Print help (see more with ''--help'')')
            [CompletionResult]::new('--help', '--help', [CompletionResultType]::ParameterName, 'Print help (see more with ''--help'')')
            [CompletionResult]::new('-V', '-V ', [CompletionResultType]::ParameterName, 'Print version')
            [CompletionResult]::new('--version', '--version', [CompletionResultType]::ParameterName, 'Print version')
            [CompletionResult]::new('install', 'install', [CompletionResultType]::ParameterValue, 'Install or upgrade gscale in the cluster: namespace, CRD, RBAC, the daemon''s Deployment, its PodDisruptionBudget and metrics Service (server-side apply, printing what changed)')
            [CompletionResult]::new('uninstall', 'uninstall', [CompletionResultType]::ParameterValue, 'Remove what `gscale install` made; the CRD and the scalers stay unless --crd')
            [CompletionResult]::new('install-crd', 'install-crd', [CompletionResultType]::ParameterValue, 'Install or update the GeneralScaler CRD (server-side apply) and wait until it is Established')
            [CompletionResult]::new('run', 'run', [CompletionResultType]::ParameterValue, 'Run the autoscaler: watch GeneralScalers, read metrics, decide, scale')
            [CompletionResult]::new('plan', 'plan', [CompletionResultType]::ParameterValue, 'Show what a scaler would do now and why, stage by stage, changing nothing')
            [CompletionResult]::new('status', 'status', [CompletionResultType]::ParameterValue, 'List scalers: current -> desired, metrics vs targets, last scale, conditions')
            [CompletionResult]::new('validate', 'validate', [CompletionResultType]::ParameterValue, 'Check GeneralScaler manifests offline, with line-precise messages and fixes')
            [CompletionResult]::new('simulate', 'simulate', [CompletionResultType]::ParameterValue, 'Replay a load trace through a scaler''s decisions, with no cluster at all')
            [CompletionResult]::new('demo', 'demo', [CompletionResultType]::ParameterValue, 'Watch gscale scale a demo workload on this machine, with no cluster')
            [CompletionResult]::new('import', 'import', [CompletionResultType]::ParameterValue, 'Turn HorizontalPodAutoscalers and KEDA ScaledObjects into GeneralScalers (YAML on stdout)')
            [CompletionResult]::new('completions', 'completions', [CompletionResultType]::ParameterValue, 'Print shell completions')
            [CompletionResult]::new('man', 'man', [CompletionResultType]::ParameterValue, 'Print the man page (roff); `man -l -` reads it')
            [CompletionResult]::new('generate', 'generate', [CompletionResultType]::ParameterValue, 'Write every completion script, man page and examples/deploy manifest into DIR (the committed copies)')
            [CompletionResult]::new('sandbox', 'sandbox', [CompletionResultType]::ParameterValue, 'Serve an in-memory Kubernetes API on 127.0.0.1 and write its kubeconfig to --kubeconfig FILE')
            [CompletionResult]::new('help', 'help', [CompletionResultType]::ParameterValue, 'Print this message or the help of the given subcommand(s)')
            break
        }
        'gscale;install' {
            [CompletionResult]::new('-n', '-n', [CompletionResultType]::ParameterName, 'Namespace of the daemon, its ServiceAccount and its leader-election Leases')
            [CompletionResult]::new('--namespace', '--namespace', [CompletionResultType]::ParameterName, 'Namespace of the daemon, its ServiceAccount and its leader-election Leases')
            [CompletionResult]::new('--image', '--image', [CompletionResultType]::ParameterName, 'Image holding the gscale binary (the repository''s Dockerfile builds it)')
            [CompletionResult]::new('--replicas', '--replicas', [CompletionResultType]::ParameterName, 'Replicas of the daemon: one leads, the others take over within the lease duration')
            [CompletionResult]::new('--shards', '--shards', [CompletionResultType]::ParameterName, 'Run the replicas with automatic shards (`auto`): each decides for a share of the scalers, and a stopped one''s share is taken over within the lease duration')
            [CompletionResult]::new('--cpu-request', '--cpu-request', [CompletionResultType]::ParameterName, 'CPU request of the daemon (a Kubernetes quantity)')
            [CompletionResult]::new('--memory-request', '--memory-request', [CompletionResultType]::ParameterName, 'Memory request of the daemon')
            [CompletionResult]::new('--memory-limit', '--memory-limit', [CompletionResultType]::ParameterName, 'Memory limit of the daemon')
            [CompletionResult]::new('--wait', '--wait', [CompletionResultType]::ParameterName, 'Seconds to wait for the CRD to become Established (0: do not wait)')
            [CompletionResult]::new('--kubeconfig', '--kubeconfig', [CompletionResultType]::ParameterName, 'Path to the kubeconfig file')
            [CompletionResult]::new('--context', '--context', [CompletionResultType]::ParameterName, 'The kubeconfig context to use')
            [CompletionResult]::new('--cluster', '--cluster', [CompletionResultType]::ParameterName, 'The kubeconfig cluster to use')
            [CompletionResult]::new('--user', '--user', [CompletionResultType]::ParameterName, 'The kubeconfig user to use')
            [CompletionResult]::new('--log-format', '--log-format', [CompletionResultType]::ParameterName, 'Log format on stderr')
            [CompletionResult]::new('--print', '--print', [CompletionResultType]::ParameterName, 'Print the objects as YAML and exit, touching no cluster (`| kubectl apply -f -` works)')
            [CompletionResult]::new('--service-monitor', '--service-monitor', [CompletionResultType]::ParameterName, 'Also a ServiceMonitor for the metrics Service (needs the Prometheus Operator''s CRDs)')
            [CompletionResult]::new('--prometheus-rule', '--prometheus-rule', [CompletionResultType]::ParameterName, 'Also a PrometheusRule with gscale''s alert rules (needs the Prometheus Operator''s CRDs)')
            [CompletionResult]::new('-h', '-h', [CompletionResultType]::ParameterName, 'Print help (see more with ''--help'')')
            [CompletionResult]::new('--help', '--help', [CompletionResultType]::ParameterName, 'Print help (see more with ''--help'')')
            [CompletionResult]::new('-V', '-V ', [CompletionResultType]::ParameterName, 'Print version')
            [CompletionResult]::new('--version', '--version', [CompletionResultType]::ParameterName, 'Print version')
            break
        }
        'gscale;uninstall' {
            [CompletionResult]::new('-n', '-n', [CompletionResultType]::ParameterName, 'Namespace gscale was installed into')
            [CompletionResult]::new('--namespace', '--namespace', [CompletionResultType]::ParameterName, 'Namespace gscale was installed into')
            [CompletionResult]::new('--kubeconfig', '--kubeconfig', [CompletionResultType]::ParameterName, 'Path to the kubeconfig file')
            [CompletionResult]::new('--context', '--context', [CompletionResultType]::ParameterName, 'The kubeconfig context to use')
            [CompletionResult]::new('--cluster', '--cluster', [CompletionResultType]::ParameterName, 'The kubeconfig cluster to use')
            [CompletionResult]::new('--user', '--user', [CompletionResultType]::ParameterName, 'The kubeconfig user to use')
            [CompletionResult]::new('--log-format', '--log-format', [CompletionResultType]::ParameterName, 'Log format on stderr')
            [CompletionResult]::new('--crd', '--crd', [CompletionResultType]::ParameterName, 'Also delete the GeneralScaler CRD, and with it every scaler in the cluster')
            [CompletionResult]::new('-h', '-h', [CompletionResultType]::ParameterName, 'Print help (see more with ''--help'')')
            [CompletionResult]::new('--help', '--help', [CompletionResultType]::ParameterName, 'Print help (see more with ''--help'')')
            [CompletionResult]::new('-V', '-V ', [CompletionResultType]::ParameterName, 'Print version')
            [CompletionResult]::new('--version', '--version', [CompletionResultType]::ParameterName, 'Print version')
            break
        }
        'gscale;install-crd' {
            [CompletionResult]::new('--wait', '--wait', [CompletionResultType]::ParameterName, 'Seconds to wait for the CRD to become Established (0: do not wait)')
            [CompletionResult]::new('--kubeconfig', '--kubeconfig', [CompletionResultType]::ParameterName, 'Path to the kubeconfig file')
            [CompletionResult]::new('--context', '--context', [CompletionResultType]::ParameterName, 'The kubeconfig context to use')
            [CompletionResult]::new('--cluster', '--cluster', [CompletionResultType]::ParameterName, 'The kubeconfig cluster to use')
            [CompletionResult]::new('--user', '--user', [CompletionResultType]::ParameterName, 'The kubeconfig user to use')
            [CompletionResult]::new('--log-format', '--log-format', [CompletionResultType]::ParameterName, 'Log format on stderr')
            [CompletionResult]::new('--print', '--print', [CompletionResultType]::ParameterName, 'Print the CRD as YAML and exit, touching no cluster')
            [CompletionResult]::new('-h', '-h', [CompletionResultType]::ParameterName, 'Print help (see more with ''--help'')')
            [CompletionResult]::new('--help', '--help', [CompletionResultType]::ParameterName, 'Print help (see more with ''--help'')')
            [CompletionResult]::new('-V', '-V ', [CompletionResultType]::ParameterName, 'Print version')
            [CompletionResult]::new('--version', '--version', [CompletionResultType]::ParameterName, 'Print version')
            break
        }
        'gscale;run' {
            [CompletionResult]::new('-n', '-n', [CompletionResultType]::ParameterName, 'Namespace to watch (default: all namespaces)')
            [CompletionResult]::new('--namespace', '--namespace', [CompletionResultType]::ParameterName, 'Namespace to watch (default: all namespaces)')
            [CompletionResult]::new('-l', '-l', [CompletionResultType]::ParameterName, 'Only scalers with these labels (kubectl selector syntax)')
            [CompletionResult]::new('--selector', '--selector', [CompletionResultType]::ParameterName, 'Only scalers with these labels (kubectl selector syntax)')
            [CompletionResult]::new('--metrics-addr', '--metrics-addr', [CompletionResultType]::ParameterName, 'Serve the daemon''s own Prometheus metrics, /healthz and /readyz here')
            [CompletionResult]::new('--shard', '--shard', [CompletionResultType]::ParameterName, 'Handle only the scalers of shard i of N (hash of namespace/name), e.g. 0/2')
            [CompletionResult]::new('--shards', '--shards', [CompletionResultType]::ParameterName, 'Share the scalers among every running replica (`auto`): each holds a Lease of its own, and a replica that stops has its scalers taken over by the others within the lease duration')
            [CompletionResult]::new('--lease-namespace', '--lease-namespace', [CompletionResultType]::ParameterName, 'Namespace of the leader-election Lease (default: $POD_NAMESPACE, else default)')
            [CompletionResult]::new('--lease-duration', '--lease-duration', [CompletionResultType]::ParameterName, 'Seconds a leader is trusted without renewing; a follower takes over after this')
            [CompletionResult]::new('--namespace-concurrency', '--namespace-concurrency', [CompletionResultType]::ParameterName, 'Reconciles one namespace may have in flight at once, of the daemon''s 256: a namespace whose metrics all hang holds no more, and the others'' scalers go on')
            [CompletionResult]::new('--request-timeout', '--request-timeout', [CompletionResultType]::ParameterName, 'Seconds one Kubernetes API call (a watch aside) may take before it is cut and logged; a scaler''s own calls are cut sooner, at its syncIntervalSeconds')
            [CompletionResult]::new('--max-metric-reply-bytes', '--max-metric-reply-bytes', [CompletionResultType]::ParameterName, 'Longest metric reply read (Prometheus, HTTP, Redis), in bytes; a longer one is an error, not read on')
            [CompletionResult]::new('--max-metric-timeout', '--max-metric-timeout', [CompletionResultType]::ParameterName, 'The most seconds one metric read may take, whatever a scaler''s timeoutSeconds asks (at most 60, the CRD''s maximum); lower it to bound how long a hanging backend holds its scalers')
            [CompletionResult]::new('--allow-metric-host', '--allow-metric-host', [CompletionResultType]::ParameterName, 'Let metric URLs reach this address, network (CIDR) or host name, though a default denies it (link-local and cloud metadata are denied by default); repeatable, or comma-separated')
            [CompletionResult]::new('--deny-metric-host', '--deny-metric-host', [CompletionResultType]::ParameterName, 'Keep metric URLs from reaching this address, network (CIDR) or host name; the most specific rule wins (deny 0.0.0.0/0 and allow a few networks for an allow list); repeatable')
            [CompletionResult]::new('--kubeconfig', '--kubeconfig', [CompletionResultType]::ParameterName, 'Path to the kubeconfig file')
            [CompletionResult]::new('--context', '--context', [CompletionResultType]::ParameterName, 'The kubeconfig context to use')
            [CompletionResult]::new('--cluster', '--cluster', [CompletionResultType]::ParameterName, 'The kubeconfig cluster to use')
            [CompletionResult]::new('--user', '--user', [CompletionResultType]::ParameterName, 'The kubeconfig user to use')
            [CompletionResult]::new('--log-format', '--log-format', [CompletionResultType]::ParameterName, 'Log format on stderr')
            [CompletionResult]::new('-A', '-A ', [CompletionResultType]::ParameterName, 'Watch every namespace (the default)')
            [CompletionResult]::new('--all-namespaces', '--all-namespaces', [CompletionResultType]::ParameterName, 'Watch every namespace (the default)')
            [CompletionResult]::new('--once', '--once', [CompletionResultType]::ParameterName, 'One pass over every scaler, then exit')
            [CompletionResult]::new('--dry-run', '--dry-run', [CompletionResultType]::ParameterName, 'Decide and record, never scale')
            [CompletionResult]::new('--no-leader-election', '--no-leader-election', [CompletionResultType]::ParameterName, 'Run without leader election (only when one daemon is certain)')
            [CompletionResult]::new('--metric-proxy-from-environment', '--metric-proxy-from-environment', [CompletionResultType]::ParameterName, 'Send Prometheus and HTTP metric requests through the proxy HTTPS_PROXY, HTTP_PROXY, ALL_PROXY and NO_PROXY name (without it they ignore those variables); the host policy still applies to each target host')
            [CompletionResult]::new('-h', '-h', [CompletionResultType]::ParameterName, 'Print help (see more with ''--help'')')
            [CompletionResult]::new('--help', '--help', [CompletionResultType]::ParameterName, 'Print help (see more with ''--help'')')
            [CompletionResult]::new('-V', '-V ', [CompletionResultType]::ParameterName, 'Print version')
            [CompletionResult]::new('--version', '--version', [CompletionResultType]::ParameterName, 'Print version')
            break
        }
        'gscale;plan' {
            [CompletionResult]::new('-f', '-f', [CompletionResultType]::ParameterName, 'A scaler manifest not applied yet')
            [CompletionResult]::new('--filename', '--filename', [CompletionResultType]::ParameterName, 'A scaler manifest not applied yet')
            [CompletionResult]::new('-n', '-n', [CompletionResultType]::ParameterName, 'Namespace of the scaler')
            [CompletionResult]::new('--namespace', '--namespace', [CompletionResultType]::ParameterName, 'Namespace of the scaler')
            [CompletionResult]::new('--current', '--current', [CompletionResultType]::ParameterName, 'With -f: the replica count to plan from when the target does not exist yet')
            [CompletionResult]::new('--replay', '--replay', [CompletionResultType]::ParameterName, 'Replay this much history (e.g. 24h): Prometheus''s, or Cloud Monitoring''s for Pub/Sub. A forecasting scaler starts from the days before it, as the daemon would have backfilled them')
            [CompletionResult]::new('--step', '--step', [CompletionResultType]::ParameterName, 'Replay step (e.g. 1m)')
            [CompletionResult]::new('--plot', '--plot', [CompletionResultType]::ParameterName, 'Write the replay as an SVG plot')
            [CompletionResult]::new('--against', '--against', [CompletionResultType]::ParameterName, 'With --replay: step a reference autoscaler over the same history beside gscale (hpa)')
            [CompletionResult]::new('-o', '-o', [CompletionResultType]::ParameterName, 'Output format')
            [CompletionResult]::new('--output', '--output', [CompletionResultType]::ParameterName, 'Output format')
            [CompletionResult]::new('--kubeconfig', '--kubeconfig', [CompletionResultType]::ParameterName, 'Path to the kubeconfig file')
            [CompletionResult]::new('--context', '--context', [CompletionResultType]::ParameterName, 'The kubeconfig context to use')
            [CompletionResult]::new('--cluster', '--cluster', [CompletionResultType]::ParameterName, 'The kubeconfig cluster to use')
            [CompletionResult]::new('--user', '--user', [CompletionResultType]::ParameterName, 'The kubeconfig user to use')
            [CompletionResult]::new('--log-format', '--log-format', [CompletionResultType]::ParameterName, 'Log format on stderr')
            [CompletionResult]::new('-h', '-h', [CompletionResultType]::ParameterName, 'Print help (see more with ''--help'')')
            [CompletionResult]::new('--help', '--help', [CompletionResultType]::ParameterName, 'Print help (see more with ''--help'')')
            [CompletionResult]::new('-V', '-V ', [CompletionResultType]::ParameterName, 'Print version')
            [CompletionResult]::new('--version', '--version', [CompletionResultType]::ParameterName, 'Print version')
            break
        }
        'gscale;status' {
            [CompletionResult]::new('-n', '-n', [CompletionResultType]::ParameterName, 'Namespace')
            [CompletionResult]::new('--namespace', '--namespace', [CompletionResultType]::ParameterName, 'Namespace')
            [CompletionResult]::new('-l', '-l', [CompletionResultType]::ParameterName, 'Only scalers with these labels')
            [CompletionResult]::new('--selector', '--selector', [CompletionResultType]::ParameterName, 'Only scalers with these labels')
            [CompletionResult]::new('-o', '-o', [CompletionResultType]::ParameterName, 'Output format')
            [CompletionResult]::new('--output', '--output', [CompletionResultType]::ParameterName, 'Output format')
            [CompletionResult]::new('--kubeconfig', '--kubeconfig', [CompletionResultType]::ParameterName, 'Path to the kubeconfig file')
            [CompletionResult]::new('--context', '--context', [CompletionResultType]::ParameterName, 'The kubeconfig context to use')
            [CompletionResult]::new('--cluster', '--cluster', [CompletionResultType]::ParameterName, 'The kubeconfig cluster to use')
            [CompletionResult]::new('--user', '--user', [CompletionResultType]::ParameterName, 'The kubeconfig user to use')
            [CompletionResult]::new('--log-format', '--log-format', [CompletionResultType]::ParameterName, 'Log format on stderr')
            [CompletionResult]::new('-A', '-A ', [CompletionResultType]::ParameterName, 'Every namespace')
            [CompletionResult]::new('--all-namespaces', '--all-namespaces', [CompletionResultType]::ParameterName, 'Every namespace')
            [CompletionResult]::new('-w', '-w', [CompletionResultType]::ParameterName, 'Keep watching and redraw')
            [CompletionResult]::new('--watch', '--watch', [CompletionResultType]::ParameterName, 'Keep watching and redraw')
            [CompletionResult]::new('-h', '-h', [CompletionResultType]::ParameterName, 'Print help (see more with ''--help'')')
            [CompletionResult]::new('--help', '--help', [CompletionResultType]::ParameterName, 'Print help (see more with ''--help'')')
            [CompletionResult]::new('-V', '-V ', [CompletionResultType]::ParameterName, 'Print version')
            [CompletionResult]::new('--version', '--version', [CompletionResultType]::ParameterName, 'Print version')
            break
        }
        'gscale;validate' {
            [CompletionResult]::new('-f', '-f', [CompletionResultType]::ParameterName, 'Manifests to check (multi-document YAML); `-` reads stdin')
            [CompletionResult]::new('--filename', '--filename', [CompletionResultType]::ParameterName, 'Manifests to check (multi-document YAML); `-` reads stdin')
            [CompletionResult]::new('--kubeconfig', '--kubeconfig', [CompletionResultType]::ParameterName, 'Path to the kubeconfig file')
            [CompletionResult]::new('--context', '--context', [CompletionResultType]::ParameterName, 'The kubeconfig context to use')
            [CompletionResult]::new('--cluster', '--cluster', [CompletionResultType]::ParameterName, 'The kubeconfig cluster to use')
            [CompletionResult]::new('--user', '--user', [CompletionResultType]::ParameterName, 'The kubeconfig user to use')
            [CompletionResult]::new('--log-format', '--log-format', [CompletionResultType]::ParameterName, 'Log format on stderr')
            [CompletionResult]::new('-q', '-q', [CompletionResultType]::ParameterName, 'Print only problems, not the valid documents')
            [CompletionResult]::new('--quiet', '--quiet', [CompletionResultType]::ParameterName, 'Print only problems, not the valid documents')
            [CompletionResult]::new('-h', '-h', [CompletionResultType]::ParameterName, 'Print help (see more with ''--help'')')
            [CompletionResult]::new('--help', '--help', [CompletionResultType]::ParameterName, 'Print help (see more with ''--help'')')
            [CompletionResult]::new('-V', '-V ', [CompletionResultType]::ParameterName, 'Print version')
            [CompletionResult]::new('--version', '--version', [CompletionResultType]::ParameterName, 'Print version')
            break
        }
        'gscale;simulate' {
            [CompletionResult]::new('-f', '-f', [CompletionResultType]::ParameterName, 'The scaler manifest')
            [CompletionResult]::new('--file', '--file', [CompletionResultType]::ParameterName, 'The scaler manifest')
            [CompletionResult]::new('--trace', '--trace', [CompletionResultType]::ParameterName, 'Load trace, CSV `timestamp,value`')
            [CompletionResult]::new('--capacity-per-pod', '--capacity-per-pod', [CompletionResultType]::ParameterName, 'Units one pod serves per second')
            [CompletionResult]::new('--pod-start', '--pod-start', [CompletionResultType]::ParameterName, 'Delay before a new pod serves (e.g. 30s)')
            [CompletionResult]::new('--compress', '--compress', [CompletionResultType]::ParameterName, 'Time compression, trace step = simulated step (e.g. 5m=15s)')
            [CompletionResult]::new('--scale-demand', '--scale-demand', [CompletionResultType]::ParameterName, 'Multiply demand by this factor')
            [CompletionResult]::new('--noise', '--noise', [CompletionResultType]::ParameterName, 'Correlated multiplicative noise on demand, e.g. 3% or 0.03 (0: none)')
            [CompletionResult]::new('--noise-correlation', '--noise-correlation', [CompletionResultType]::ParameterName, 'How long the noise takes to forget itself')
            [CompletionResult]::new('--seed', '--seed', [CompletionResultType]::ParameterName, 'Seed of the noise: the same seed replays the same run')
            [CompletionResult]::new('--reading', '--reading', [CompletionResultType]::ParameterName, 'What the metric reports of demand: auto (as its source does), instant, rate[=SCRAPE/WINDOW], period[=PERIOD+DELAY], sampled[=EVERY+DELAY]')
            [CompletionResult]::new('--against', '--against', [CompletionResultType]::ParameterName, 'Compare with a reference autoscaler')
            [CompletionResult]::new('--plot', '--plot', [CompletionResultType]::ParameterName, 'Write an SVG plot')
            [CompletionResult]::new('-o', '-o', [CompletionResultType]::ParameterName, 'Output format')
            [CompletionResult]::new('--output', '--output', [CompletionResultType]::ParameterName, 'Output format')
            [CompletionResult]::new('--kubeconfig', '--kubeconfig', [CompletionResultType]::ParameterName, 'Path to the kubeconfig file')
            [CompletionResult]::new('--context', '--context', [CompletionResultType]::ParameterName, 'The kubeconfig context to use')
            [CompletionResult]::new('--cluster', '--cluster', [CompletionResultType]::ParameterName, 'The kubeconfig cluster to use')
            [CompletionResult]::new('--user', '--user', [CompletionResultType]::ParameterName, 'The kubeconfig user to use')
            [CompletionResult]::new('--log-format', '--log-format', [CompletionResultType]::ParameterName, 'Log format on stderr')
            [CompletionResult]::new('--hold', '--hold', [CompletionResultType]::ParameterName, 'Hold each trace point for its whole step (the step replay) instead of moving linearly to the next')
            [CompletionResult]::new('-h', '-h', [CompletionResultType]::ParameterName, 'Print help (see more with ''--help'')')
            [CompletionResult]::new('--help', '--help', [CompletionResultType]::ParameterName, 'Print help (see more with ''--help'')')
            [CompletionResult]::new('-V', '-V ', [CompletionResultType]::ParameterName, 'Print version')
            [CompletionResult]::new('--version', '--version', [CompletionResultType]::ParameterName, 'Print version')
            break
        }
        'gscale;demo' {
            [CompletionResult]::new('--duration', '--duration', [CompletionResultType]::ParameterName, 'Stop after this long (e.g. 60s); default: until Ctrl-C')
            [CompletionResult]::new('--redis', '--redis', [CompletionResultType]::ParameterName, 'Drive a real Redis list at this URL instead of the embedded HTTP metric')
            [CompletionResult]::new('--wave-period', '--wave-period', [CompletionResultType]::ParameterName, 'Length of one load wave (tests use a short one); the scaler''s timings follow it')
            [CompletionResult]::new('--kubeconfig', '--kubeconfig', [CompletionResultType]::ParameterName, 'Path to the kubeconfig file')
            [CompletionResult]::new('--context', '--context', [CompletionResultType]::ParameterName, 'The kubeconfig context to use')
            [CompletionResult]::new('--cluster', '--cluster', [CompletionResultType]::ParameterName, 'The kubeconfig cluster to use')
            [CompletionResult]::new('--user', '--user', [CompletionResultType]::ParameterName, 'The kubeconfig user to use')
            [CompletionResult]::new('--log-format', '--log-format', [CompletionResultType]::ParameterName, 'Log format on stderr')
            [CompletionResult]::new('-h', '-h', [CompletionResultType]::ParameterName, 'Print help (see more with ''--help'')')
            [CompletionResult]::new('--help', '--help', [CompletionResultType]::ParameterName, 'Print help (see more with ''--help'')')
            [CompletionResult]::new('-V', '-V ', [CompletionResultType]::ParameterName, 'Print version')
            [CompletionResult]::new('--version', '--version', [CompletionResultType]::ParameterName, 'Print version')
            break
        }
        'gscale;import' {
            [CompletionResult]::new('-f', '-f', [CompletionResultType]::ParameterName, 'Manifests of HPAs and ScaledObjects (and the TriggerAuthentications they name); `-` reads stdin')
            [CompletionResult]::new('--filename', '--filename', [CompletionResultType]::ParameterName, 'Manifests of HPAs and ScaledObjects (and the TriggerAuthentications they name); `-` reads stdin')
            [CompletionResult]::new('-n', '-n', [CompletionResultType]::ParameterName, 'Namespace to read from, and of the scalers printed')
            [CompletionResult]::new('--namespace', '--namespace', [CompletionResultType]::ParameterName, 'Namespace to read from, and of the scalers printed')
            [CompletionResult]::new('--prometheus-url', '--prometheus-url', [CompletionResultType]::ParameterName, 'Prometheus serving the HPA''s custom and external metrics and cAdvisor''s CPU and memory')
            [CompletionResult]::new('--kubeconfig', '--kubeconfig', [CompletionResultType]::ParameterName, 'Path to the kubeconfig file')
            [CompletionResult]::new('--context', '--context', [CompletionResultType]::ParameterName, 'The kubeconfig context to use')
            [CompletionResult]::new('--cluster', '--cluster', [CompletionResultType]::ParameterName, 'The kubeconfig cluster to use')
            [CompletionResult]::new('--user', '--user', [CompletionResultType]::ParameterName, 'The kubeconfig user to use')
            [CompletionResult]::new('--log-format', '--log-format', [CompletionResultType]::ParameterName, 'Log format on stderr')
            [CompletionResult]::new('--all', '--all', [CompletionResultType]::ParameterName, 'Every HPA and ScaledObject of the namespace')
            [CompletionResult]::new('--strict', '--strict', [CompletionResultType]::ParameterName, 'Exit 1 when any field could not be mapped')
            [CompletionResult]::new('-h', '-h', [CompletionResultType]::ParameterName, 'Print help (see more with ''--help'')')
            [CompletionResult]::new('--help', '--help', [CompletionResultType]::ParameterName, 'Print help (see more with ''--help'')')
            [CompletionResult]::new('-V', '-V ', [CompletionResultType]::ParameterName, 'Print version')
            [CompletionResult]::new('--version', '--version', [CompletionResultType]::ParameterName, 'Print version')
            break
        }
        'gscale;completions' {
            [CompletionResult]::new('--kubeconfig', '--kubeconfig', [CompletionResultType]::ParameterName, 'Path to the kubeconfig file')
            [CompletionResult]::new('--context', '--context', [CompletionResultType]::ParameterName, 'The kubeconfig context to use')
            [CompletionResult]::new('--cluster', '--cluster', [CompletionResultType]::ParameterName, 'The kubeconfig cluster to use')
            [CompletionResult]::new('--user', '--user', [CompletionResultType]::ParameterName, 'The kubeconfig user to use')
            [CompletionResult]::new('--log-format', '--log-format', [CompletionResultType]::ParameterName, 'Log format on stderr')
            [CompletionResult]::new('-h', '-h', [CompletionResultType]::ParameterName, 'Print help (see more with ''--help'')')
            [CompletionResult]::new('--help', '--help', [CompletionResultType]::ParameterName, 'Print help (see more with ''--help'')')
            [CompletionResult]::new('-V', '-V ', [CompletionResultType]::ParameterName, 'Print version')
            [CompletionResult]::new('--version', '--version', [CompletionResultType]::ParameterName, 'Print version')
            break
        }
        'gscale;man' {
            [CompletionResult]::new('--kubeconfig', '--kubeconfig', [CompletionResultType]::ParameterName, 'Path to the kubeconfig file')
            [CompletionResult]::new('--context', '--context', [CompletionResultType]::ParameterName, 'The kubeconfig context to use')
            [CompletionResult]::new('--cluster', '--cluster', [CompletionResultType]::ParameterName, 'The kubeconfig cluster to use')
            [CompletionResult]::new('--user', '--user', [CompletionResultType]::ParameterName, 'The kubeconfig user to use')
            [CompletionResult]::new('--log-format', '--log-format', [CompletionResultType]::ParameterName, 'Log format on stderr')
            [CompletionResult]::new('-h', '-h', [CompletionResultType]::ParameterName, 'Print help (see more with ''--help'')')
            [CompletionResult]::new('--help', '--help', [CompletionResultType]::ParameterName, 'Print help (see more with ''--help'')')
            [CompletionResult]::new('-V', '-V ', [CompletionResultType]::ParameterName, 'Print version')
            [CompletionResult]::new('--version', '--version', [CompletionResultType]::ParameterName, 'Print version')
            break
        }
        'gscale;generate' {
            [CompletionResult]::new('--kubeconfig', '--kubeconfig', [CompletionResultType]::ParameterName, 'Path to the kubeconfig file')
            [CompletionResult]::new('--context', '--context', [CompletionResultType]::ParameterName, 'The kubeconfig context to use')
            [CompletionResult]::new('--cluster', '--cluster', [CompletionResultType]::ParameterName, 'The kubeconfig cluster to use')
            [CompletionResult]::new('--user', '--user', [CompletionResultType]::ParameterName, 'The kubeconfig user to use')
            [CompletionResult]::new('--log-format', '--log-format', [CompletionResultType]::ParameterName, 'Log format on stderr')
            [CompletionResult]::new('-h', '-h', [CompletionResultType]::ParameterName, 'Print help (see more with ''--help'')')
            [CompletionResult]::new('--help', '--help', [CompletionResultType]::ParameterName, 'Print help (see more with ''--help'')')
            [CompletionResult]::new('-V', '-V ', [CompletionResultType]::ParameterName, 'Print version')
            [CompletionResult]::new('--version', '--version', [CompletionResultType]::ParameterName, 'Print version')
            break
        }
        'gscale;sandbox' {
            [CompletionResult]::new('--port', '--port', [CompletionResultType]::ParameterName, 'Port on 127.0.0.1 (default: a free one)')
            [CompletionResult]::new('--replica-delay-ms', '--replica-delay-ms', [CompletionResultType]::ParameterName, 'Milliseconds before a workload''s status follows a change of spec.replicas')
            [CompletionResult]::new('--kubeconfig', '--kubeconfig', [CompletionResultType]::ParameterName, 'Path to the kubeconfig file')
            [CompletionResult]::new('--context', '--context', [CompletionResultType]::ParameterName, 'The kubeconfig context to use')
            [CompletionResult]::new('--cluster', '--cluster', [CompletionResultType]::ParameterName, 'The kubeconfig cluster to use')
            [CompletionResult]::new('--user', '--user', [CompletionResultType]::ParameterName, 'The kubeconfig user to use')
            [CompletionResult]::new('--log-format', '--log-format', [CompletionResultType]::ParameterName, 'Log format on stderr')
            [CompletionResult]::new('-h', '-h', [CompletionResultType]::ParameterName, 'Print help (see more with ''--help'')')
            [CompletionResult]::new('--help', '--help', [CompletionResultType]::ParameterName, 'Print help (see more with ''--help'')')
            [CompletionResult]::new('-V', '-V ', [CompletionResultType]::ParameterName, 'Print version')
            [CompletionResult]::new('--version', '--version', [CompletionResultType]::ParameterName, 'Print version')
            break
        }
        'gscale;help' {
            [CompletionResult]::new('install', 'install', [CompletionResultType]::ParameterValue, 'Install or upgrade gscale in the cluster: namespace, CRD, RBAC, the daemon''s Deployment, its PodDisruptionBudget and metrics Service (server-side apply, printing what changed)')
            [CompletionResult]::new('uninstall', 'uninstall', [CompletionResultType]::ParameterValue, 'Remove what `gscale install` made; the CRD and the scalers stay unless --crd')
            [CompletionResult]::new('install-crd', 'install-crd', [CompletionResultType]::ParameterValue, 'Install or update the GeneralScaler CRD (server-side apply) and wait until it is Established')
            [CompletionResult]::new('run', 'run', [CompletionResultType]::ParameterValue, 'Run the autoscaler: watch GeneralScalers, read metrics, decide, scale')
            [CompletionResult]::new('plan', 'plan', [CompletionResultType]::ParameterValue, 'Show what a scaler would do now and why, stage by stage, changing nothing')
            [CompletionResult]::new('status', 'status', [CompletionResultType]::ParameterValue, 'List scalers: current -> desired, metrics vs targets, last scale, conditions')
            [CompletionResult]::new('validate', 'validate', [CompletionResultType]::ParameterValue, 'Check GeneralScaler manifests offline, with line-precise messages and fixes')
            [CompletionResult]::new('simulate', 'simulate', [CompletionResultType]::ParameterValue, 'Replay a load trace through a scaler''s decisions, with no cluster at all')
            [CompletionResult]::new('demo', 'demo', [CompletionResultType]::ParameterValue, 'Watch gscale scale a demo workload on this machine, with no cluster')
            [CompletionResult]::new('import', 'import', [CompletionResultType]::ParameterValue, 'Turn HorizontalPodAutoscalers and KEDA ScaledObjects into GeneralScalers (YAML on stdout)')
            [CompletionResult]::new('completions', 'completions', [CompletionResultType]::ParameterValue, 'Print shell completions')
            [CompletionResult]::new('man', 'man', [CompletionResultType]::ParameterValue, 'Print the man page (roff); `man -l -` reads it')
            [CompletionResult]::new('generate', 'generate', [CompletionResultType]::ParameterValue, 'Write every completion script, man page and examples/deploy manifest into DIR (the committed copies)')
            [CompletionResult]::new('sandbox', 'sandbox', [CompletionResultType]::ParameterValue, 'Serve an in-memory Kubernetes API on 127.0.0.1 and write its kubeconfig to --kubeconfig FILE')
            [CompletionResult]::new('help', 'help', [CompletionResultType]::ParameterValue, 'Print this message or the help of the given subcommand(s)')
            break
        }
        'gscale;help;install' {
            break
        }
        'gscale;help;uninstall' {
            break
        }
        'gscale;help;install-crd' {
            break
        }
        'gscale;help;run' {
            break
        }
        'gscale;help;plan' {
            break
        }
        'gscale;help;status' {
            break
        }
        'gscale;help;validate' {
            break
        }
        'gscale;help;simulate' {
            break
        }
        'gscale;help;demo' {
            break
        }
        'gscale;help;import' {
            break
        }
        'gscale;help;completions' {
            break
        }
        'gscale;help;man' {
            break
        }
        'gscale;help;generate' {
            break
        }
        'gscale;help;sandbox' {
            break
        }
        'gscale;help;help' {
            break
        }
    })

    $completions.Where{ $_.CompletionText -like "$wordToComplete*" } |
        Sort-Object -Property ListItemText
}
