using System.Text;

namespace Dynamo.Transfer;

/// <summary>A short message from another agent, delivered after the transfer it was posted with (or sent on its own).</summary>
public sealed record TransferNotification(string FromAgent, byte[] Message)
{
    public string Text => Encoding.UTF8.GetString(Message);

    public override string ToString() => $"from {FromAgent}: {Message.Length} B";
}
