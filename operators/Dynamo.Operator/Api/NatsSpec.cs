using System.ComponentModel;
using Dynamo.Operator.Schema;

namespace Dynamo.Operator.Api;

/// <summary>The graph's NATS: a managed server (StatefulSet and Service <c>&lt;graph&gt;-nats</c>) or an external URL.</summary>
public sealed class NatsSpec
{
    [Description("true (default when url is not set): the operator runs nats-server -js as the StatefulSet and Service <graph>-nats.")]
    public bool? Managed { get; set; }

    [Pattern("^(nats|tls)://.+$")]
    [Description("An existing NATS server with JetStream, e.g. nats://nats.infra.svc:4222. Exclusive with managed: true.")]
    public string? Url { get; set; }

    [Description("Image of the managed NATS server (default nats:2.10-alpine).")]
    public string? Image { get; set; }
}
