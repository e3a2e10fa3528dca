namespace Dynamo.Contracts;

/// <summary>What a worker does with a request: everything, only the prompt, or only the tokens after it.</summary>
public enum WorkerRole
{
    Aggregated,
    Prefill,
    Decode,
}
