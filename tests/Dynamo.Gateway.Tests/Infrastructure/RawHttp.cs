using System.Net.Sockets;
using System.Text;

namespace Dynamo.Gateway.Tests.Infrastructure;

/// <summary>
/// Requests written byte for byte over a socket, for what HttpClient will not send: unnormalized paths
/// (<c>/metrics/.</c>, <c>%6D</c>), broken chunked framing. The request should ask for <c>Connection: close</c>;
/// the answer is read to the end of the connection.
/// </summary>
internal static class RawHttp
{
    public static async Task<RawResponse> SendAsync(Uri server, string request, TimeSpan? timeout = null)
    {
        using var cts = new CancellationTokenSource(timeout ?? TimeSpan.FromSeconds(30));
        using var client = new TcpClient();
        await client.ConnectAsync(server.Host, server.Port, cts.Token);
        var stream = client.GetStream();
        await stream.WriteAsync(Encoding.Latin1.GetBytes(request), cts.Token);
        using var received = new MemoryStream();
        try
        {
            await stream.CopyToAsync(received, cts.Token);
        }
        catch (IOException)
        {
            // The server may reset the connection after its answer (it does after a refused body); what came is kept.
        }

        return RawResponse.Parse(Encoding.UTF8.GetString(received.ToArray()));
    }

    /// <summary>A GET of <paramref name="target"/> exactly as written.</summary>
    public static Task<RawResponse> GetAsync(Uri server, string target, string extraHeaders = "") =>
        SendAsync(server, $"GET {target} HTTP/1.1\r\nHost: {server.Authority}\r\n{extraHeaders}Connection: close\r\n\r\n");
}

internal sealed record RawResponse(int Status, Dictionary<string, string> Headers, string Body)
{
    public static RawResponse Parse(string text)
    {
        var split = text.IndexOf("\r\n\r\n", StringComparison.Ordinal);
        if (split < 0)
        {
            throw new InvalidDataException($"No complete HTTP response: '{text}'");
        }

        var lines = text[..split].Split("\r\n");
        var headers = new Dictionary<string, string>(StringComparer.OrdinalIgnoreCase);
        foreach (var line in lines.Skip(1))
        {
            var colon = line.IndexOf(':', StringComparison.Ordinal);
            headers[line[..colon]] = line[(colon + 1)..].Trim();
        }

        var body = text[(split + 4)..];
        if (headers.TryGetValue("Transfer-Encoding", out var te) && te.Contains("chunked", StringComparison.OrdinalIgnoreCase))
        {
            body = Dechunk(body);
        }

        return new RawResponse(int.Parse(lines[0].Split(' ')[1], System.Globalization.CultureInfo.InvariantCulture), headers, body);
    }

    private static string Dechunk(string body)
    {
        var result = new StringBuilder();
        var at = 0;
        while (at < body.Length)
        {
            var end = body.IndexOf("\r\n", at, StringComparison.Ordinal);
            var size = Convert.ToInt32(body[at..end], 16);
            if (size == 0)
            {
                break;
            }

            result.Append(body, end + 2, size);
            at = end + 2 + size + 2;
        }

        return result.ToString();
    }
}
