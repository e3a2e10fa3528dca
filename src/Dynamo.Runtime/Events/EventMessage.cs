using System.Diagnostics;

namespace Dynamo.Runtime.Events;

/// <summary>One message from the event plane.</summary>
/// <param name="Subject">The subject it was published on, as the publisher named it (without any transport prefix).</param>
/// <param name="Payload">The message.</param>
/// <param name="Parent">The publisher's trace context (W3C <c>traceparent</c>/<c>tracestate</c>); default when it had none.</param>
public readonly record struct EventMessage<T>(string Subject, T Payload, ActivityContext Parent);
