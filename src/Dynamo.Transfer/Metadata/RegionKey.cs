namespace Dynamo.Transfer.Metadata;

/// <summary>A backend's remote key for a region (UCX: the packed rkey a peer unpacks to read or write it).</summary>
public sealed record RegionKey(TransferBackendKind Kind, byte[] Key);
