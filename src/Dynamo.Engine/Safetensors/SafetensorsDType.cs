namespace Dynamo.Engine.Safetensors;

/// <summary>Element types the engine reads and writes; names are the ones in the safetensors header.</summary>
public enum SafetensorsDType
{
    F32,
    F16,
    BF16,
}
