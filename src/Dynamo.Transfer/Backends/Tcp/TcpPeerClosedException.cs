namespace Dynamo.Transfer.Backends.Tcp;

/// <summary>The peer closed the connection in the middle of a message.</summary>
internal sealed class TcpPeerClosedException() : IOException("the peer closed the connection in the middle of a message");
