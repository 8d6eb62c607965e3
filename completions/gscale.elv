
use builtin;
use str;

set edit:completion:arg-completer[gscale] = {|@words|
    fn spaces {|n|
        builtin:repeat $n ' ' | str:join ''
    }
    fn cand {|text desc|
        edit:complex-candidate $text &display=$text' '(spaces (- 14 (wcswidth $text)))$desc
    }
    var command = 'gscale'
    for word $words[1..-1] {
        if (str:has-prefix $word '-') {
            break
        }
        set command = $command';'$word
    }
    var completions = [
        &'gscale'= {
            cand --kubeconfig 'Path to the kubeconfig file'
            cand --context 'The kubeconfig context to use'
            cand --cluster 'The kubeconfig cluster to use'
            cand --user 'The kubeconfig user to use'
            cand --log-format 'Log format on stderr'
            cand -h 'Print help (see more with ''--help'')'
            cand --help 'Print help (see more with ''--help'')'
            cand -V 'Print version'
            cand --version 'Print version'
            cand install 'Install or upgrade gscale in the cluster: namespace, CRD, RBAC, the daemon''s Deployment, its PodDisruptionBudget and metrics Service (server-side apply, printing what changed)'
            cand uninstall 'Remove what `gscale install` made; the CRD and the scalers stay unless --crd'
            cand install-crd 'Install or update the GeneralScaler CRD (server-side apply) and wait until it is Established'
            cand run 'Run the autoscaler: watch GeneralScalers, read metrics, decide, scale'
            cand plan 'Show what a scaler would do now and why, stage by stage, changing nothing'
            cand status 'List scalers: current -> desired, metrics vs targets, last scale, conditions'
            cand validate 'Check GeneralScaler manifests offline, with line-precise messages and fixes'
            cand simulate 'Replay a load trace through a scaler''s decisions, with no cluster at all'
            cand demo 'Watch gscale scale a demo workload on this machine, with no cluster'
            cand import 'Turn HorizontalPodAutoscalers and KEDA ScaledObjects into GeneralScalers (YAML on stdout)'
            cand completions 'Print shell completions'
            cand man 'Print the man page (roff); `man -l -` reads it'
            cand generate 'Write every completion script, man page and examples/deploy manifest into DIR (the committed copies)'
            cand sandbox 'Serve an in-memory Kubernetes API on 127.0.0.1 and write its kubeconfig to --kubeconfig FILE'
            cand help 'Print this message or the help of the given subcommand(s)'
        }
        &'gscale;install'= {
            cand -n 'Namespace of the daemon, its ServiceAccount and its leader-election Leases'
            cand --namespace 'Namespace of the daemon, its ServiceAccount and its leader-election Leases'
            cand --image 'Image holding the gscale binary (the repository''s Dockerfile builds it)'
            cand --replicas 'Replicas of the daemon: one leads, the others take over within the lease duration'
            cand --shards 'Run the replicas with automatic shards (`auto`): each decides for a share of the scalers, and a stopped one''s share is taken over within the lease duration'
            cand --cpu-request 'CPU request of the daemon (a Kubernetes quantity)'
            cand --memory-request 'Memory request of the daemon'
            cand --memory-limit 'Memory limit of the daemon'
            cand --wait 'Seconds to wait for the CRD to become Established (0: do not wait)'
            cand --kubeconfig 'Path to the kubeconfig file'
            cand --context 'The kubeconfig context to use'
            cand --cluster 'The kubeconfig cluster to use'
            cand --user 'The kubeconfig user to use'
            cand --log-format 'Log format on stderr'
            cand --print 'Print the objects as YAML and exit, touching no cluster (`| kubectl apply -f -` works)'
            cand --service-monitor 'Also a ServiceMonitor for the metrics Service (needs the Prometheus Operator''s CRDs)'
            cand --prometheus-rule 'Also a PrometheusRule with gscale''s alert rules (needs the Prometheus Operator''s CRDs)'
            cand -h 'Print help (see more with ''--help'')'
            cand --help 'Print help (see more with ''--help'')'
            cand -V 'Print version'
            cand --version 'Print version'
        }
        &'gscale;uninstall'= {
            cand -n 'Namespace gscale was installed into'
            cand --namespace 'Namespace gscale was installed into'
            cand --kubeconfig 'Path to the kubeconfig file'
            cand --context 'The kubeconfig context to use'
            cand --cluster 'The kubeconfig cluster to use'
            cand --user 'The kubeconfig user to use'
            cand --log-format 'Log format on stderr'
            cand --crd 'Also delete the GeneralScaler CRD, and with it every scaler in the cluster'
            cand -h 'Print help (see more with ''--help'')'
            cand --help 'Print help (see more with ''--help'')'
            cand -V 'Print version'
            cand --version 'Print version'
        }
        &'gscale;install-crd'= {
            cand --wait 'Seconds to wait for the CRD to become Established (0: do not wait)'
            cand --kubeconfig 'Path to the kubeconfig file'
            cand --context 'The kubeconfig context to use'
            cand --cluster 'The kubeconfig cluster to use'
            cand --user 'The kubeconfig user to use'
            cand --log-format 'Log format on stderr'
            cand --print 'Print the CRD as YAML and exit, touching no cluster'
            cand -h 'Print help (see more with ''--help'')'
            cand --help 'Print help (see more with ''--help'')'
            cand -V 'Print version'
            cand --version 'Print version'
        }
        &'gscale;run'= {
            cand -n 'Namespace to watch (default: all namespaces)'
            cand --namespace 'Namespace to watch (default: all namespaces)'
            cand -l 'Only scalers with these labels (kubectl selector syntax)'
            cand --selector 'Only scalers with these labels (kubectl selector syntax)'
            cand --metrics-addr 'Serve the daemon''s own Prometheus metrics, /healthz and /readyz here'
            cand --shard 'Handle only the scalers of shard i of N (hash of namespace/name), e.g. 0/2'
            cand --shards 'Share the scalers among every running replica (`auto`): each holds a Lease of its own, and a replica that stops has its scalers taken over by the others within the lease duration'
            cand --lease-namespace 'Namespace of the leader-election Lease (default: $POD_NAMESPACE, else default)'
            cand --lease-duration 'Seconds a leader is trusted without renewing; a follower takes over after this'
            cand --namespace-concurrency 'Reconciles one namespace may have in flight at once, of the daemon''s 256: a namespace whose metrics all hang holds no more, and the others'' scalers go on'
            cand --request-timeout 'Seconds one Kubernetes API call (a watch aside) may take before it is cut and logged; a scaler''s own calls are cut sooner, at its syncIntervalSeconds'
            cand --max-metric-reply-bytes 'Longest metric reply read (Prometheus, HTTP, Redis), in bytes; a longer one is an error, not read on'
            cand --max-metric-timeout 'The most seconds one metric read may take, whatever a scaler''s timeoutSeconds asks (at most 60, the CRD''s maximum); lower it to bound how long a hanging backend holds its scalers'
            cand --allow-metric-host 'Let metric URLs reach this address, network (CIDR) or host name, though a default denies it (link-local and cloud metadata are denied by default); repeatable, or comma-separated'
            cand --deny-metric-host 'Keep metric URLs from reaching this address, network (CIDR) or host name; the most specific rule wins (deny 0.0.0.0/0 and allow a few networks for an allow list); repeatable'
            cand --kubeconfig 'Path to the kubeconfig file'
            cand --context 'The kubeconfig context to use'
            cand --cluster 'The kubeconfig cluster to use'
            cand --user 'The kubeconfig user to use'
            cand --log-format 'Log format on stderr'
            cand -A 'Watch every namespace (the default)'
            cand --all-namespaces 'Watch every namespace (the default)'
            cand --once 'One pass over every scaler, then exit'
            cand --dry-run 'Decide and record, never scale'
            cand --no-leader-election 'Run without leader election (only when one daemon is certain)'
            cand --metric-proxy-from-environment 'Send Prometheus and HTTP metric requests through the proxy HTTPS_PROXY, HTTP_PROXY, ALL_PROXY and NO_PROXY name (without it they ignore those variables); the host policy still applies to each target host'
            cand -h 'Print help (see more with ''--help'')'
            cand --help 'Print help (see more with ''--help'')'
            cand -V 'Print version'
            cand --version 'Print version'
        }
        &'gscale;plan'= {
            cand -f 'A scaler manifest not applied yet'
            cand --filename 'A scaler manifest not applied yet'
            cand -n 'Namespace of the scaler'
            cand --namespace 'Namespace of the scaler'
            cand --current 'With -f: the replica count to plan from when the target does not exist yet'
            cand --replay 'Replay this much history (e.g. 24h): Prometheus''s, or Cloud Monitoring''s for Pub/Sub. A forecasting scaler starts from the days before it, as the daemon would have backfilled them'
            cand --step 'Replay step (e.g. 1m)'
            cand --plot 'Write the replay as an SVG plot'
            cand --against 'With --replay: step a reference autoscaler over the same history beside gscale (hpa)'
            cand -o 'Output format'
            cand --output 'Output format'
            cand --kubeconfig 'Path to the kubeconfig file'
            cand --context 'The kubeconfig context to use'
            cand --cluster 'The kubeconfig cluster to use'
            cand --user 'The kubeconfig user to use'
            cand --log-format 'Log format on stderr'
            cand -h 'Print help (see more with ''--help'')'
            cand --help 'Print help (see more with ''--help'')'
            cand -V 'Print version'
            cand --version 'Print version'
        }
        &'gscale;status'= {
            cand -n 'Namespace'
            cand --namespace 'Namespace'
            cand -l 'Only scalers with these labels'
            cand --selector 'Only scalers with these labels'
            cand -o 'Output format'
            cand --output 'Output format'
            cand --kubeconfig 'Path to the kubeconfig file'
            cand --context 'The kubeconfig context to use'
            cand --cluster 'The kubeconfig cluster to use'
            cand --user 'The kubeconfig user to use'
            cand --log-format 'Log format on stderr'
            cand -A 'Every namespace'
            cand --all-namespaces 'Every namespace'
            cand -w 'Keep watching and redraw'
            cand --watch 'Keep watching and redraw'
            cand -h 'Print help (see more with ''--help'')'
            cand --help 'Print help (see more with ''--help'')'
            cand -V 'Print version'
            cand --version 'Print version'
        }
        &'gscale;validate'= {
            cand -f 'Manifests to check (multi-document YAML); `-` reads stdin'
            cand --filename 'Manifests to check (multi-document YAML); `-` reads stdin'
            cand --kubeconfig 'Path to the kubeconfig file'
            cand --context 'The kubeconfig context to use'
            cand --cluster 'The kubeconfig cluster to use'
            cand --user 'The kubeconfig user to use'
            cand --log-format 'Log format on stderr'
            cand -q 'Print only problems, not the valid documents'
            cand --quiet 'Print only problems, not the valid documents'
            cand -h 'Print help (see more with ''--help'')'
            cand --help 'Print help (see more with ''--help'')'
            cand -V 'Print version'
            cand --version 'Print version'
        }
        &'gscale;simulate'= {
            cand -f 'The scaler manifest'
            cand --file 'The scaler manifest'
            cand --trace 'Load trace, CSV `timestamp,value`'
            cand --capacity-per-pod 'Units one pod serves per second'
            cand --pod-start 'Delay before a new pod serves (e.g. 30s)'
            cand --compress 'Time compression, trace step = simulated step (e.g. 5m=15s)'
            cand --scale-demand 'Multiply demand by this factor'
            cand --noise 'Correlated multiplicative noise on demand, e.g. 3% or 0.03 (0: none)'
            cand --noise-correlation 'How long the noise takes to forget itself'
            cand --seed 'Seed of the noise: the same seed replays the same run'
            cand --reading 'What the metric reports of demand: auto (as its source does), instant, rate[=SCRAPE/WINDOW], period[=PERIOD+DELAY], sampled[=EVERY+DELAY]'
            cand --against 'Compare with a reference autoscaler'
            cand --plot 'Write an SVG plot'
            cand -o 'Output format'
            cand --output 'Output format'
            cand --kubeconfig 'Path to the kubeconfig file'
            cand --context 'The kubeconfig context to use'
            cand --cluster 'The kubeconfig cluster to use'
            cand --user 'The kubeconfig user to use'
            cand --log-format 'Log format on stderr'
            cand --hold 'Hold each trace point for its whole step (the step replay) instead of moving linearly to the next'
            cand -h 'Print help (see more with ''--help'')'
            cand --help 'Print help (see more with ''--help'')'
            cand -V 'Print version'
            cand --version 'Print version'
        }
        &'gscale;demo'= {
            cand --duration 'Stop after this long (e.g. 60s); default: until Ctrl-C'
            cand --redis 'Drive a real Redis list at this URL instead of the embedded HTTP metric'
            cand --wave-period 'Length of one load wave (tests use a short one); the scaler''s timings follow it'
            cand --kubeconfig 'Path to the kubeconfig file'
            cand --context 'The kubeconfig context to use'
            cand --cluster 'The kubeconfig cluster to use'
            cand --user 'The kubeconfig user to use'
            cand --log-format 'Log format on stderr'
            cand -h 'Print help (see more with ''--help'')'
            cand --help 'Print help (see more with ''--help'')'
            cand -V 'Print version'
            cand --version 'Print version'
        }
        &'gscale;import'= {
            cand -f 'Manifests of HPAs and ScaledObjects (and the TriggerAuthentications they name); `-` reads stdin'
            cand --filename 'Manifests of HPAs and ScaledObjects (and the TriggerAuthentications they name); `-` reads stdin'
            cand -n 'Namespace to read from, and of the scalers printed'
            cand --namespace 'Namespace to read from, and of the scalers printed'
            cand --prometheus-url 'Prometheus serving the HPA''s custom and external metrics and cAdvisor''s CPU and memory'
            cand --kubeconfig 'Path to the kubeconfig file'
            cand --context 'The kubeconfig context to use'
            cand --cluster 'The kubeconfig cluster to use'
            cand --user 'The kubeconfig user to use'
            cand --log-format 'Log format on stderr'
            cand --all 'Every HPA and ScaledObject of the namespace'
            cand --strict 'Exit 1 when any field could not be mapped'
            cand -h 'Print help (see more with ''--help'')'
            cand --help 'Print help (see more with ''--help'')'
            cand -V 'Print version'
            cand --version 'Print version'
        }
        &'gscale;completions'= {
            cand --kubeconfig 'Path to the kubeconfig file'
            cand --context 'The kubeconfig context to use'
            cand --cluster 'The kubeconfig cluster to use'
            cand --user 'The kubeconfig user to use'
            cand --log-format 'Log format on stderr'
            cand -h 'Print help (see more with ''--help'')'
            cand --help 'Print help (see more with ''--help'')'
            cand -V 'Print version'
            cand --version 'Print version'
        }
        &'gscale;man'= {
            cand --kubeconfig 'Path to the kubeconfig file'
            cand --context 'The kubeconfig context to use'
            cand --cluster 'The kubeconfig cluster to use'
            cand --user 'The kubeconfig user to use'
            cand --log-format 'Log format on stderr'
            cand -h 'Print help (see more with ''--help'')'
            cand --help 'Print help (see more with ''--help'')'
            cand -V 'Print version'
            cand --version 'Print version'
        }
        &'gscale;generate'= {
            cand --kubeconfig 'Path to the kubeconfig file'
            cand --context 'The kubeconfig context to use'
            cand --cluster 'The kubeconfig cluster to use'
            cand --user 'The kubeconfig user to use'
            cand --log-format 'Log format on stderr'
            cand -h 'Print help (see more with ''--help'')'
            cand --help 'Print help (see more with ''--help'')'
            cand -V 'Print version'
            cand --version 'Print version'
        }
        &'gscale;sandbox'= {
            cand --port 'Port on 127.0.0.1 (default: a free one)'
            cand --replica-delay-ms 'Milliseconds before a workload''s status follows a change of spec.replicas'
            cand --kubeconfig 'Path to the kubeconfig file'
            cand --context 'The kubeconfig context to use'
            cand --cluster 'The kubeconfig cluster to use'
            cand --user 'The kubeconfig user to use'
            cand --log-format 'Log format on stderr'
            cand -h 'Print help (see more with ''--help'')'
            cand --help 'Print help (see more with ''--help'')'
            cand -V 'Print version'
            cand --version 'Print version'
        }
        &'gscale;help'= {
            cand install 'Install or upgrade gscale in the cluster: namespace, CRD, RBAC, the daemon''s Deployment, its PodDisruptionBudget and metrics Service (server-side apply, printing what changed)'
            cand uninstall 'Remove what `gscale install` made; the CRD and the scalers stay unless --crd'
            cand install-crd 'Install or update the GeneralScaler CRD (server-side apply) and wait until it is Established'
            cand run 'Run the autoscaler: watch GeneralScalers, read metrics, decide, scale'
            cand plan 'Show what a scaler would do now and why, stage by stage, changing nothing'
            cand status 'List scalers: current -> desired, metrics vs targets, last scale, conditions'
            cand validate 'Check GeneralScaler manifests offline, with line-precise messages and fixes'
            cand simulate 'Replay a load trace through a scaler''s decisions, with no cluster at all'
            cand demo 'Watch gscale scale a demo workload on this machine, with no cluster'
            cand import 'Turn HorizontalPodAutoscalers and KEDA ScaledObjects into GeneralScalers (YAML on stdout)'
            cand completions 'Print shell completions'
            cand man 'Print the man page (roff); `man -l -` reads it'
            cand generate 'Write every completion script, man page and examples/deploy manifest into DIR (the committed copies)'
            cand sandbox 'Serve an in-memory Kubernetes API on 127.0.0.1 and write its kubeconfig to --kubeconfig FILE'
            cand help 'Print this message or the help of the given subcommand(s)'
        }
        &'gscale;help;install'= {
        }
        &'gscale;help;uninstall'= {
        }
        &'gscale;help;install-crd'= {
        }
        &'gscale;help;run'= {
        }
        &'gscale;help;plan'= {
        }
        &'gscale;help;status'= {
        }
        &'gscale;help;validate'= {
        }
        &'gscale;help;simulate'= {
        }
        &'gscale;help;demo'= {
        }
        &'gscale;help;import'= {
        }
        &'gscale;help;completions'= {
        }
        &'gscale;help;man'= {
        }
        &'gscale;help;generate'= {
        }
        &'gscale;help;sandbox'= {
        }
        &'gscale;help;help'= {
        }
    ]
    $completions[$command]
}
