namespace Dynamo.Gateway.Security;

/// <summary>
/// Browser access from other origins, bound from <c>Dynamo:Gateway:Cors</c>. Empty (the default): no cross-origin
/// access at all; a request that carries an <c>Origin</c> header is refused with 403 (preflights included), so a web
/// page can neither read from nor post to the gateway, even through DNS rebinding of a loopback address.
/// </summary>
public sealed class CrossOriginOptions
{
    /// <summary>
    /// Origins allowed to call the API from a browser, exactly as browsers send them: <c>scheme://host[:port]</c>
    /// (e.g. <c>https://app.example.com</c>), no path, no wildcard. Requests from any other origin get 403.
    /// </summary>
    public List<string> AllowedOrigins { get; set; } = [];

    /// <summary>The problems of <see cref="AllowedOrigins"/>, each naming the entry; empty when valid.</summary>
    public IEnumerable<string> Problems(string section)
    {
        for (var i = 0; i < AllowedOrigins.Count; i++)
        {
            var origin = AllowedOrigins[i];
            var ok = Uri.TryCreate(origin, UriKind.Absolute, out var uri)
                && (uri.Scheme == Uri.UriSchemeHttp || uri.Scheme == Uri.UriSchemeHttps)
                && uri.AbsolutePath == "/" && !origin.EndsWith('/') && uri.Query.Length == 0 && uri.Fragment.Length == 0 && uri.UserInfo.Length == 0;
            if (!ok)
            {
                yield return $"{section}:Cors:AllowedOrigins:{i} = '{origin}': must be an origin such as https://app.example.com " +
                    "(http or https, host, optional port; no path, no trailing slash, no wildcard).";
            }
        }
    }
}
