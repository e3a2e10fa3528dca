using System.Net;
using System.Net.Sockets;
using System.Text;

namespace Dynamo.Bench.Hostile;

/// <summary>What came back for one raw request.</summary>
internal sealed record RawOutcome(int? Status, Dictionary<string, string> Headers, byte[] Body, string? Problem)
{
    public string BodyText => Encoding.UTF8.GetString(Body);
}

/// <summary>
/// One request per connection, written byte for byte from a chosen loopback source address (so the server sees
/// distinct clients: the failed-authentication throttle counts per address), the answer read to the connection's end.
/// </summary>
internal static class RawClient
{
    public static async Task<RawOutcome> SendAsync(IPEndPoint server, IPAddress source, HostileCase c, TimeSpan timeout)
    {
        using var cts = new CancellationTokenSource(timeout);
        using var socket = new Socket(AddressFamily.InterNetwork, SocketType.Stream, ProtocolType.Tcp);
        socket.Bind(new IPEndPoint(source, 0));
        socket.NoDelay = true;
        await socket.ConnectAsync(server, cts.Token);
        await using var stream = new NetworkStream(socket, ownsSocket: false);
        var sent = c.Abort == AbortMode.BeforeEnd ? c.Request[..c.AbortAt] : c.Request;
        try
        {
            if (c.Pieces > 1)
            {
                var size = Math.Max(1, sent.Length / c.Pieces);
                for (var at = 0; at < sent.Length; at += size)
                {
                    await stream.WriteAsync(sent.AsMemory(at, Math.Min(size, sent.Length - at)), cts.Token);
                    await Task.Delay(c.PieceDelay, cts.Token);
                }
            }
            else
            {
                await stream.WriteAsync(sent, cts.Token);
            }
        }
        catch (IOException)
        {
            // The server answered and closed before the whole body was sent (a 413, a refused framing): read what it said.
        }

        if (c.Abort == AbortMode.BeforeEnd)
        {
            socket.Close(0);
            return new RawOutcome(null, [], [], "aborted by the client");
        }

        using var received = new MemoryStream();
        var buffer = new byte[16 * 1024];
        try
        {
            while (true)
            {
                var read = await stream.ReadAsync(buffer, cts.Token);
                if (read == 0)
                {
                    break;
                }

                received.Write(buffer, 0, read);
                if (c.Abort == AbortMode.AfterFirstBytes)
                {
                    socket.Close(0);
                    return new RawOutcome(ParseStatus(received.ToArray()), [], [], "aborted by the client after the first bytes");
                }
            }
        }
        catch (IOException) when (received.Length > 0)
        {
            // Reset after the answer: what came is kept.
        }
        catch (IOException ex)
        {
            return new RawOutcome(null, [], [], $"connection reset with no answer ({ex.InnerException?.Message ?? ex.Message})");
        }
        catch (OperationCanceledException)
        {
            return new RawOutcome(ParseStatus(received.ToArray()), [], [], $"no complete answer within {timeout.TotalSeconds:F0} s");
        }

        return Parse(received.ToArray());
    }

    private static int? ParseStatus(byte[] data)
    {
        var text = Encoding.Latin1.GetString(data, 0, Math.Min(data.Length, 64));
        var parts = text.Split(' ', 3);
        return parts.Length >= 2 && parts[0].StartsWith("HTTP/", StringComparison.Ordinal) && int.TryParse(parts[1], out var s) ? s : null;
    }

    private static RawOutcome Parse(byte[] data)
    {
        var text = Encoding.Latin1.GetString(data);
        var split = text.IndexOf("\r\n\r\n", StringComparison.Ordinal);
        if (split < 0)
        {
            return new RawOutcome(null, [], [], data.Length == 0 ? "connection closed with no answer" : "incomplete answer");
        }

        var lines = text[..split].Split("\r\n");
        var status = ParseStatus(data);
        var headers = new Dictionary<string, string>(StringComparer.OrdinalIgnoreCase);
        foreach (var line in lines.Skip(1))
        {
            var colon = line.IndexOf(':', StringComparison.Ordinal);
            if (colon > 0)
            {
                headers[line[..colon]] = line[(colon + 1)..].Trim();
            }
        }

        var body = data.AsSpan(split + 4).ToArray();
        if (headers.TryGetValue("Transfer-Encoding", out var te) && te.Contains("chunked", StringComparison.OrdinalIgnoreCase))
        {
            body = Dechunk(body);
        }

        return new RawOutcome(status, headers, body, status is null ? "unparseable status line" : null);
    }

    private static byte[] Dechunk(byte[] body)
    {
        using var result = new MemoryStream();
        var at = 0;
        while (at < body.Length)
        {
            var end = body.AsSpan(at).IndexOf("\r\n"u8);
            if (end < 0)
            {
                break;
            }

            var sizeText = Encoding.Latin1.GetString(body, at, end).Split(';')[0];
            if (!int.TryParse(sizeText, System.Globalization.NumberStyles.HexNumber, null, out var size) || size == 0)
            {
                break;
            }

            result.Write(body, at + end + 2, Math.Min(size, body.Length - (at + end + 2)));
            at += end + 2 + size + 2;
        }

        return result.ToArray();
    }
}
