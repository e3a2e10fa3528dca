namespace Dynamo.Runtime.Observability;

/// <summary>
/// Every Prometheus metric name the project exports, in one place. Names follow NVIDIA Dynamo's so dashboards
/// carry over: <c>dynamo_frontend_*</c> for the gateway, <c>dynamo_component_*</c> for workers and the router.
/// </summary>
public static class MetricNames
{
    // Gateway (frontend)
    public const string FrontendRequestsTotal = "dynamo_frontend_requests_total";
    public const string FrontendInflightRequests = "dynamo_frontend_inflight_requests";
    public const string FrontendQueuedRequests = "dynamo_frontend_queued_requests";
    public const string FrontendTimeToFirstToken = "dynamo_frontend_time_to_first_token_seconds";
    public const string FrontendInterTokenLatency = "dynamo_frontend_inter_token_latency_seconds";
    public const string FrontendRequestDuration = "dynamo_frontend_request_duration_seconds";
    public const string FrontendInputSequenceTokens = "dynamo_frontend_input_sequence_tokens";
    public const string FrontendOutputSequenceTokens = "dynamo_frontend_output_sequence_tokens";
    public const string FrontendCachedTokensTotal = "dynamo_frontend_cached_tokens_total";
    public const string FrontendMigrationsTotal = "dynamo_frontend_migrations_total";
    public const string FrontendDisaggPrefillsTotal = "dynamo_frontend_disagg_prefills_total";
    public const string FrontendRemotePrefillDuration = "dynamo_frontend_remote_prefill_duration_seconds";
    public const string FrontendAdmittedSequences = "dynamo_frontend_admitted_sequences";
    public const string FrontendTokenizingRequests = "dynamo_frontend_tokenizing_requests";
    public const string FrontendTokenizationsCancelledTotal = "dynamo_frontend_tokenizations_cancelled_total";
    public const string FrontendKvPinReleasesTotal = "dynamo_frontend_kv_pin_releases_total";
    public const string FrontendAuthFailuresTotal = "dynamo_frontend_auth_failures_total";
    public const string FrontendStoredResponses = "dynamo_frontend_stored_responses";
    public const string FrontendStoredResponsesEvictedTotal = "dynamo_frontend_stored_responses_evicted_total";

    /// <summary>Queued requests refused (429) to make room in a full admission queue for one of higher <c>nvext.priority</c>.</summary>
    public const string FrontendRequestsShedTotal = "dynamo_frontend_requests_shed_total";

    /// <summary>NATS messages and records this frontend dropped because their cluster signature did not verify, by kind and reason.</summary>
    public const string FrontendRejectedSignedRecordsTotal = "dynamo_frontend_rejected_signed_records_total";

    /// <summary>Requests the gateway held, unsent, because every worker that could serve them was busy (<c>Dynamo:Gateway:BusyWait</c>).</summary>
    public const string FrontendBusyHeldRequestsTotal = "dynamo_frontend_busy_held_requests_total";

    /// <summary>Requests held now for that reason (not <c>_busy_held_requests</c>: OpenMetrics names the counter's family so).</summary>
    public const string FrontendHeldRequests = "dynamo_frontend_held_requests";

    /// <summary>Held requests answered <c>Dynamo:Gateway:BusyStatus</c> because no worker freed within the wait.</summary>
    public const string FrontendBusyRefusedRequestsTotal = "dynamo_frontend_busy_refused_requests_total";

    // Router
    public const string RouterDecisionsTotal = "dynamo_component_router_decisions_total";
    public const string RouterKvHitRate = "dynamo_component_router_kv_hit_rate";
    public const string RouterPromptBlocksTotal = "dynamo_component_router_prompt_blocks_total";
    public const string RouterOverlapBlocksTotal = "dynamo_component_router_overlap_blocks_total";
    public const string RouterOverlapBlocks = "dynamo_component_router_overlap_blocks";
    public const string RouterDecisionDuration = "dynamo_component_router_decision_duration_seconds";

    /// <summary>The KV router's predicted time to first token per decision: on the chosen worker and on the best other candidate.</summary>
    public const string RouterPredictedTtft = "dynamo_component_router_predicted_ttft_seconds";

    /// <summary>Decisions the balance thresholds moved off the cheapest worker (hot-spot control).</summary>
    public const string RouterRebalancedTotal = "dynamo_component_router_rebalanced_total";

    /// <summary>Share of the prompt blocks routed to each worker that it already held, since start.</summary>
    public const string RouterWorkerKvHitRate = "dynamo_component_router_worker_kv_hit_rate";

    /// <summary>Workers over a busy threshold now (<c>Dynamo:Router:BusyKvUsage</c>, <c>BusyWaitingRequests</c>), by reason.</summary>
    public const string RouterBusyWorkers = "dynamo_component_router_busy_workers";

    /// <summary>Decisions for requests with an <c>nvext.session_id</c>, by outcome: new, hit (its worker), moved (re-homed).</summary>
    public const string RouterSessionDecisionsTotal = "dynamo_component_router_session_decisions_total";

    // Worker
    public const string WorkerRequestsTotal = "dynamo_component_requests_total";
    public const string WorkerKvBlocksUsed = "dynamo_component_kv_blocks_used";
    public const string WorkerKvTotalBlocks = "dynamo_component_kv_total_blocks";
    public const string WorkerKvUsage = "dynamo_component_kv_cache_usage_ratio";
    public const string WorkerRunningRequests = "dynamo_component_running_requests";
    public const string WorkerQueueDepth = "dynamo_component_queue_depth";
    public const string WorkerPrefixCacheHitRate = "dynamo_component_prefix_cache_hit_rate";
    public const string WorkerGeneratedTokensTotal = "dynamo_component_generated_tokens_total";
    public const string WorkerKvTransferBytesTotal = "dynamo_component_kv_transfer_bytes_total";
    public const string WorkerKvTransferDuration = "dynamo_component_kv_transfer_duration_seconds";
    public const string WorkerRemotePrefillsTotal = "dynamo_component_remote_prefills_total";
    public const string WorkerKvPinnedBlocks = "dynamo_component_kv_pinned_blocks";
    public const string WorkerKvPinsDeclinedTotal = "dynamo_component_kv_pins_declined_total";
    public const string WorkerKvTransferRefusedTotal = "dynamo_component_kv_transfer_refused_total";

    /// <summary>Requests refused with 401 for a missing or invalid cluster credential, by reason.</summary>
    public const string WorkerUnauthenticatedRequestsTotal = "dynamo_component_unauthenticated_requests_total";

    // Planner (the live loop: dynamo serve --planner, dynamo planner)
    public const string PlannerPredictedRequestRate = "dynamo_planner_predicted_request_rate";
    public const string PlannerPredictedInputTokens = "dynamo_planner_predicted_input_tokens";
    public const string PlannerPredictedOutputTokens = "dynamo_planner_predicted_output_tokens";
    public const string PlannerObservedRequestRate = "dynamo_planner_observed_request_rate";

    /// <summary>TTFT and ITL the SLA planner expects for the predicted load on the ready pools (profile × correction).</summary>
    public const string PlannerExpectedTimeToFirstToken = "dynamo_planner_expected_time_to_first_token_seconds";
    public const string PlannerExpectedInterTokenLatency = "dynamo_planner_expected_inter_token_latency_seconds";
    public const string PlannerObservedTimeToFirstToken = "dynamo_planner_observed_time_to_first_token_seconds";
    public const string PlannerObservedInterTokenLatency = "dynamo_planner_observed_inter_token_latency_seconds";
    public const string PlannerDesiredWorkers = "dynamo_planner_desired_workers";
    public const string PlannerActualWorkers = "dynamo_planner_actual_workers";
    public const string PlannerReadyWorkers = "dynamo_planner_ready_workers";

    /// <summary>Decisions by reason (hold, pending, throughput, load, scheduled, clamped, stabilizing, no_data, advisory, ready_timeout).</summary>
    public const string PlannerDecisionsTotal = "dynamo_planner_decisions_total";

    /// <summary>Target changes carried out, by pool and direction (up, down).</summary>
    public const string PlannerScalingActionsTotal = "dynamo_planner_scaling_actions_total";

    /// <summary>Workers given up because they did not become ready within the ready timeout, by pool.</summary>
    public const string PlannerFailedStartsTotal = "dynamo_planner_failed_starts_total";

    /// <summary>Intervals with no observation (metrics source unreachable): the size was held.</summary>
    public const string PlannerObservationFailuresTotal = "dynamo_planner_observation_failures_total";

    /// <summary>Calls to the connector (list pools, set targets) that failed.</summary>
    public const string PlannerConnectorFailuresTotal = "dynamo_planner_connector_failures_total";

    // Operator (dynamo operator): reconciles of DynamoGraphDeployments
    /// <summary>Reconciles finished, by result (success, invalid, error).</summary>
    public const string OperatorReconcileTotal = "dynamo_operator_reconcile_total";

    /// <summary>How long one reconcile took, seconds.</summary>
    public const string OperatorReconcileDuration = "dynamo_operator_reconcile_duration_seconds";

    /// <summary>Graph keys waiting in the work queue.</summary>
    public const string OperatorQueueDepth = "dynamo_operator_queue_depth";

    /// <summary>Objects the operator created, updated or deleted, by kind and action.</summary>
    public const string OperatorObjectWritesTotal = "dynamo_operator_object_writes_total";

    /// <summary>1 while this operator replica holds the leader Lease, else 0.</summary>
    public const string OperatorLeader = "dynamo_operator_leader";

    // Dev cluster API server (operators/Dynamo.DevCluster)
    /// <summary>API requests answered, by verb (get, list, watch, create, update, patch, delete, deletecollection), resource and HTTP code.</summary>
    public const string DevClusterApiRequestsTotal = "dynamo_devcluster_apiserver_requests_total";

    /// <summary>Time to answer a non-watch API request, by verb.</summary>
    public const string DevClusterApiRequestDuration = "dynamo_devcluster_apiserver_request_duration_seconds";

    /// <summary>Watch streams open, by resource.</summary>
    public const string DevClusterOpenWatches = "dynamo_devcluster_apiserver_open_watches";

    /// <summary>Objects stored, by resource.</summary>
    public const string DevClusterObjects = "dynamo_devcluster_apiserver_objects";

    /// <summary>The store's current resourceVersion (every write adds one).</summary>
    public const string DevClusterResourceVersion = "dynamo_devcluster_apiserver_resource_version";

    // Dev cluster node agent and controllers (operators/Dynamo.DevCluster/Node, Controllers)
    /// <summary>Pods on the node, by phase (Pending, Running, Succeeded, Failed).</summary>
    public const string DevClusterNodePods = "dynamo_devcluster_node_pods";

    /// <summary>Container processes started by the node agent (first starts and restarts).</summary>
    public const string DevClusterNodeContainerStartsTotal = "dynamo_devcluster_node_container_starts_total";

    /// <summary>Container processes that ended, by reason (Completed: exit 0, Error: any other).</summary>
    public const string DevClusterNodeContainerExitsTotal = "dynamo_devcluster_node_container_exits_total";

    /// <summary>Probe failures, by probe (Startup, Liveness, Readiness).</summary>
    public const string DevClusterNodeProbeFailuresTotal = "dynamo_devcluster_node_probe_failures_total";

    /// <summary>Connections to Service addresses and node ports, by result (forwarded, no_endpoint, unreachable).</summary>
    public const string DevClusterNodeProxyConnectionsTotal = "dynamo_devcluster_node_proxy_connections_total";

    /// <summary>Passes of the controllers (Deployment, ReplicaSet, StatefulSet, Endpoints) over the store.</summary>
    public const string DevClusterControllerPassesTotal = "dynamo_devcluster_controller_passes_total";
}
