namespace Dynamo.Engine.Model;

/// <summary>Forward-pass time by kind of operation: matrix multiplies (including the vocabulary projection), paged attention (with the KV writes), and the element-wise rest.</summary>
public readonly record struct ForwardTimings(TimeSpan MatMul, TimeSpan Attention, TimeSpan Other);
