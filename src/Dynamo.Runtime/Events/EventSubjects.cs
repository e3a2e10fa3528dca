namespace Dynamo.Runtime.Events;

/// <summary>Subjects of the event plane, named in one place, and the rule every subject follows.</summary>
public static class EventSubjects
{
    /// <summary>KV cache events (blocks stored and removed) from workers to routers.</summary>
    public const string KvEvents = "kv_events";

    /// <summary>Periodic load reports (queue depth, KV usage) from workers to routers and the planner.</summary>
    public const string LoadMetrics = "load_metrics";

    /// <summary>Transfer notifications between prefill and decode workers.</summary>
    public const string Transfer = "transfer";

    /// <summary>
    /// The planner's worker targets per pool, for an outside system that runs the workers (<c>dynamo planner
    /// --connector virtual</c>); each carries a sequence number the system acknowledges on <see cref="PlannerStatus"/>.
    /// </summary>
    public const string PlannerTargets = "planner_targets";

    /// <summary>The outside system's answer to <see cref="PlannerTargets"/>: the sequence it applied and each pool's desired, actual and ready workers.</summary>
    public const string PlannerStatus = "planner_status";

    /// <summary>
    /// Throws <see cref="ArgumentException"/> unless <paramref name="subject"/> is dot-separated, non-empty tokens of
    /// ASCII letters, digits, <c>-</c> and <c>_</c>: valid on NATS and free of its wildcards.
    /// </summary>
    public static void Validate(string subject)
    {
        ArgumentException.ThrowIfNullOrEmpty(subject);
        var tokenLength = 0;
        foreach (var c in subject)
        {
            if (c == '.')
            {
                if (tokenLength == 0)
                {
                    throw new ArgumentException($"Subject '{subject}' has an empty token.", nameof(subject));
                }

                tokenLength = 0;
                continue;
            }

            if (!(char.IsAsciiLetterOrDigit(c) || c is '-' or '_'))
            {
                throw new ArgumentException($"Subject '{subject}' has '{c}'; use letters, digits, '-', '_' and '.' between tokens.", nameof(subject));
            }

            tokenLength++;
        }

        if (tokenLength == 0)
        {
            throw new ArgumentException($"Subject '{subject}' has an empty token.", nameof(subject));
        }
    }
}
