using System.Diagnostics;

namespace Dynamo.Runtime.Tracing;

/// <summary>
/// W3C trace context (<c>traceparent</c>, <c>tracestate</c>) in and out of message headers, through the process's
/// <see cref="DistributedContextPropagator"/> as HTTP does, so a trace crosses the event plane like a forwarded request.
/// </summary>
public static class TraceContext
{
    public const string TraceParent = "traceparent";
    public const string TraceState = "tracestate";

    /// <summary>Writes <paramref name="activity"/>'s context through <paramref name="setter"/>; nothing when it is null.</summary>
    public static void Inject<TCarrier>(Activity? activity, TCarrier carrier, Action<TCarrier, string, string> setter)
    {
        ArgumentNullException.ThrowIfNull(setter);
        if (activity is null)
        {
            return;
        }

        DistributedContextPropagator.Current.Inject(activity, carrier, (c, name, value) =>
        {
            if (value is not null)
            {
                setter((TCarrier)c!, name, value);
            }
        });
    }

    /// <summary>The context carried by <paramref name="carrier"/>, or default when it has none or it does not parse.</summary>
    public static ActivityContext Extract<TCarrier>(TCarrier carrier, Func<TCarrier, string, string?> getter)
    {
        ArgumentNullException.ThrowIfNull(getter);
        DistributedContextPropagator.Current.ExtractTraceIdAndState(
            carrier,
            (object? c, string name, out string? value, out IEnumerable<string>? values) =>
            {
                value = getter((TCarrier)c!, name);
                values = null;
            },
            out var traceParent,
            out var traceState);
        return traceParent is not null && ActivityContext.TryParse(traceParent, traceState, isRemote: true, out var context)
            ? context
            : default;
    }
}
