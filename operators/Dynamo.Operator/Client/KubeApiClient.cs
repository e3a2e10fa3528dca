using System.Net;
using System.Net.Http.Headers;
using System.Net.Security;
using System.Runtime.CompilerServices;
using System.Security.Cryptography.X509Certificates;
using System.Text;
using System.Text.Json.Nodes;
using k8s;

namespace Dynamo.Operator.Client;

/// <summary>
/// The operator's client of the Kubernetes REST API: JSON objects in and out, watches read line by line (so
/// bookmarks and 410 Gone are seen as they are), and the server's Status turned into <see cref="KubeApiException"/>.
/// Connection settings and credentials come from a kubeconfig or the in-cluster service account, read with
/// KubernetesClient's <see cref="KubernetesClientConfiguration"/>.
/// </summary>
public sealed class KubeApiClient : IDisposable
{
    private readonly HttpClient _http;

    public KubeApiClient(HttpClient http, string? defaultNamespace = null)
    {
        _http = http;
        DefaultNamespace = defaultNamespace ?? "default";
    }

    /// <summary>The namespace of the kubeconfig's context (or the service account's), <c>default</c> when none.</summary>
    public string DefaultNamespace { get; }

    public Uri BaseAddress => _http.BaseAddress!;

    /// <summary>
    /// Connects as a kubeconfig says: <paramref name="kubeconfig"/>, else <c>$KUBECONFIG</c>, else the in-cluster
    /// service account when running in a pod, else <c>~/.kube/config</c>.
    /// </summary>
    /// <param name="kubeconfig">The kubeconfig file, or null.</param>
    /// <param name="wrap">Wraps the HTTP handler (tests inject faults with it); null for none.</param>
    public static KubeApiClient Create(string? kubeconfig, Func<HttpMessageHandler, HttpMessageHandler>? wrap = null)
    {
        KubernetesClientConfiguration config;
        if (kubeconfig is not null)
        {
            if (!File.Exists(kubeconfig))
            {
                throw new FileNotFoundException($"kubeconfig '{kubeconfig}' does not exist", kubeconfig);
            }

            config = KubernetesClientConfiguration.BuildConfigFromConfigFile(kubeconfig);
        }
        else if (Environment.GetEnvironmentVariable("KUBECONFIG") is { Length: > 0 } fromEnvironment)
        {
            // KUBECONFIG may list several files; the first that exists is used, as kubectl merges them with the first winning.
            var file = fromEnvironment.Split(Path.PathSeparator, StringSplitOptions.RemoveEmptyEntries).FirstOrDefault(File.Exists)
                ?? throw new FileNotFoundException($"none of the files in KUBECONFIG '{fromEnvironment}' exists");
            config = KubernetesClientConfiguration.BuildConfigFromConfigFile(file);
        }
        else if (KubernetesClientConfiguration.IsInCluster())
        {
            config = KubernetesClientConfiguration.InClusterConfig();
        }
        else
        {
            config = KubernetesClientConfiguration.BuildDefaultConfig();
        }

        return FromConfig(config, wrap);
    }

    public static KubeApiClient FromConfig(KubernetesClientConfiguration config, Func<HttpMessageHandler, HttpMessageHandler>? wrap = null)
    {
        var handler = new SocketsHttpHandler
        {
            PooledConnectionLifetime = TimeSpan.FromMinutes(5),
            // Watches are long-lived and several run at once.
            MaxConnectionsPerServer = 64,
        };
        if (config.SkipTlsVerify)
        {
            // The kubeconfig says insecure-skip-tls-verify: true; honoured as kubectl honours it.
#pragma warning disable CA5359
            handler.SslOptions.RemoteCertificateValidationCallback = (_, _, _, _) => true;
#pragma warning restore CA5359
        }
        else if (config.SslCaCerts is { Count: > 0 } authorities)
        {
            handler.SslOptions.RemoteCertificateValidationCallback = (_, certificate, _, errors) => ValidateWithAuthorities(certificate, errors, authorities);
        }

        if (config.TlsServerName is not null)
        {
            handler.SslOptions.TargetHost = config.TlsServerName;
        }

        if (config.ClientCertificateData is not null || config.ClientCertificateFilePath is not null)
        {
            handler.SslOptions.ClientCertificates = [ClientCertificate(config)];
        }

        HttpMessageHandler pipeline = handler;
        if (config.TokenProvider is not null || config.AccessToken is not null || config.Username is not null)
        {
            pipeline = new CredentialHandler(config) { InnerHandler = handler };
        }

        if (wrap is not null)
        {
            pipeline = wrap(pipeline);
        }

        var http = new HttpClient(pipeline)
        {
            BaseAddress = new Uri(config.Host.TrimEnd('/') + "/"),
            // Watches stay open for minutes; each call has its own cancellation instead.
            Timeout = Timeout.InfiniteTimeSpan,
        };
        http.DefaultRequestHeaders.UserAgent.ParseAdd("dynamo-operator/1.0");
        return new KubeApiClient(http, config.Namespace);
    }

    public async Task<JsonObject?> GetAsync(KubeResource resource, string? ns, string name, string? subresource = null, CancellationToken cancellationToken = default)
    {
        using var request = new HttpRequestMessage(HttpMethod.Get, Relative(resource.ItemPath(ns, name, subresource)));
        var (status, body) = await SendAsync(request, cancellationToken).ConfigureAwait(false);
        return status == HttpStatusCode.NotFound ? null : Parse(status, body, request);
    }

    /// <summary>Lists a collection; the list's resourceVersion is where a watch continues from.</summary>
    public async Task<(IReadOnlyList<JsonObject> Items, string ResourceVersion)> ListAsync(KubeResource resource, string? ns, string? labelSelector = null, CancellationToken cancellationToken = default)
    {
        var query = labelSelector is null ? "" : $"?labelSelector={Uri.EscapeDataString(labelSelector)}";
        using var request = new HttpRequestMessage(HttpMethod.Get, Relative(resource.CollectionPath(ns) + query));
        var (status, body) = await SendAsync(request, cancellationToken).ConfigureAwait(false);
        var list = Parse(status, body, request);
        var items = (list["items"] as JsonArray ?? []).OfType<JsonObject>().Select(i =>
        {
            // List items come without apiVersion and kind; put them back so typed readers and owner lookups work.
            var item = (JsonObject)i.DeepClone();
            item["apiVersion"] ??= resource.ApiVersion;
            item["kind"] ??= resource.Kind;
            return item;
        }).ToList();
        return (items, list["metadata"]?["resourceVersion"]?.GetValue<string>() ?? "");
    }

    /// <summary>
    /// Watches a collection from <paramref name="resourceVersion"/> with bookmarks. Ends when the server closes the
    /// stream; throws <see cref="KubeApiException"/> with <see cref="KubeApiException.IsGone"/> when the version is too old.
    /// </summary>
    public async IAsyncEnumerable<WatchEvent> WatchAsync(KubeResource resource, string? ns, string resourceVersion, string? labelSelector = null, int timeoutSeconds = 300,
        [EnumeratorCancellation] CancellationToken cancellationToken = default)
    {
        var query = new StringBuilder($"?watch=true&allowWatchBookmarks=true&timeoutSeconds={timeoutSeconds}&resourceVersion={Uri.EscapeDataString(resourceVersion)}");
        if (labelSelector is not null)
        {
            query.Append("&labelSelector=").Append(Uri.EscapeDataString(labelSelector));
        }

        using var request = new HttpRequestMessage(HttpMethod.Get, Relative(resource.CollectionPath(ns) + query));
        using var response = await _http.SendAsync(request, HttpCompletionOption.ResponseHeadersRead, cancellationToken).ConfigureAwait(false);
        if (!response.IsSuccessStatusCode)
        {
            throw KubeApiException.From(response.StatusCode, await response.Content.ReadAsStringAsync(cancellationToken).ConfigureAwait(false), Describe(request));
        }

        using var reader = new StreamReader(await response.Content.ReadAsStreamAsync(cancellationToken).ConfigureAwait(false));
        while (await reader.ReadLineAsync(cancellationToken).ConfigureAwait(false) is { } line)
        {
            if (line.Length == 0)
            {
                continue;
            }

            var node = JsonNode.Parse(line) as JsonObject;
            var type = node?["type"]?.GetValue<string>();
            if (node?["object"] is not JsonObject obj || type is null)
            {
                continue;
            }

            if (type == WatchEvent.Error)
            {
                var code = obj["code"]?.GetValue<int>() ?? 500;
                throw new KubeApiException((HttpStatusCode)code, obj["reason"]?.GetValue<string>(), obj["message"]?.GetValue<string>() ?? line, Describe(request));
            }

            obj["apiVersion"] ??= resource.ApiVersion;
            obj["kind"] ??= resource.Kind;
            yield return new WatchEvent(type, obj);
        }
    }

    public async Task<JsonObject> CreateAsync(KubeResource resource, string? ns, JsonObject obj, CancellationToken cancellationToken = default)
    {
        using var request = new HttpRequestMessage(HttpMethod.Post, Relative(resource.CollectionPath(ns)))
        {
            Content = Json(obj, "application/json"),
        };
        var (status, body) = await SendAsync(request, cancellationToken).ConfigureAwait(false);
        return Parse(status, body, request);
    }

    /// <summary>PUT: the object's metadata.resourceVersion makes it conditional (409 when the object changed since).</summary>
    public async Task<JsonObject> ReplaceAsync(KubeResource resource, string? ns, string name, JsonObject obj, string? subresource = null, CancellationToken cancellationToken = default)
    {
        using var request = new HttpRequestMessage(HttpMethod.Put, Relative(resource.ItemPath(ns, name, subresource)))
        {
            Content = Json(obj, "application/json"),
        };
        var (status, body) = await SendAsync(request, cancellationToken).ConfigureAwait(false);
        return Parse(status, body, request);
    }

    public async Task<JsonObject> PatchAsync(KubeResource resource, string? ns, string name, JsonNode patch, PatchKind kind, string? subresource = null, CancellationToken cancellationToken = default)
    {
        using var request = new HttpRequestMessage(HttpMethod.Patch, Relative(resource.ItemPath(ns, name, subresource)))
        {
            Content = Json(patch, kind == PatchKind.Merge ? "application/merge-patch+json" : "application/json-patch+json"),
        };
        var (status, body) = await SendAsync(request, cancellationToken).ConfigureAwait(false);
        return Parse(status, body, request);
    }

    /// <summary>Deletes an object; false when it was already gone.</summary>
    public async Task<bool> DeleteAsync(KubeResource resource, string? ns, string name, CancellationToken cancellationToken = default)
    {
        using var request = new HttpRequestMessage(HttpMethod.Delete, Relative(resource.ItemPath(ns, name)));
        var (status, body) = await SendAsync(request, cancellationToken).ConfigureAwait(false);
        if (status == HttpStatusCode.NotFound)
        {
            return false;
        }

        Parse(status, body, request);
        return true;
    }

    public void Dispose() => _http.Dispose();

    private async Task<(HttpStatusCode Status, string Body)> SendAsync(HttpRequestMessage request, CancellationToken cancellationToken)
    {
        request.Headers.Accept.Add(new MediaTypeWithQualityHeaderValue("application/json"));
        using var response = await _http.SendAsync(request, cancellationToken).ConfigureAwait(false);
        return (response.StatusCode, await response.Content.ReadAsStringAsync(cancellationToken).ConfigureAwait(false));
    }

    private static JsonObject Parse(HttpStatusCode status, string body, HttpRequestMessage request)
    {
        if ((int)status is < 200 or > 299)
        {
            throw KubeApiException.From(status, body, Describe(request));
        }

        return JsonNode.Parse(body) as JsonObject ?? throw new KubeApiException(status, "BadResponse", "the response is not a JSON object", Describe(request));
    }

    private static string Describe(HttpRequestMessage request) => $"{request.Method} {request.RequestUri}";

    private static Uri Relative(string path) => new(path.TrimStart('/'), UriKind.Relative);

    private static StringContent Json(JsonNode node, string mediaType) => new(node.ToJsonString(), Encoding.UTF8, mediaType);

    private static bool ValidateWithAuthorities(X509Certificate? certificate, SslPolicyErrors errors, X509Certificate2Collection authorities)
    {
        if (errors == SslPolicyErrors.None)
        {
            return true;
        }

        if (certificate is null || (errors & ~SslPolicyErrors.RemoteCertificateChainErrors) != 0)
        {
            return false;
        }

        using var chain = new X509Chain();
        chain.ChainPolicy.TrustMode = X509ChainTrustMode.CustomRootTrust;
        chain.ChainPolicy.CustomTrustStore.AddRange(authorities);
        chain.ChainPolicy.RevocationMode = X509RevocationMode.NoCheck;
        return chain.Build(new X509Certificate2(certificate));
    }

    private static X509Certificate2 ClientCertificate(KubernetesClientConfiguration config)
    {
        var certificate = config.ClientCertificateData is not null
            ? Encoding.UTF8.GetString(Convert.FromBase64String(config.ClientCertificateData))
            : File.ReadAllText(config.ClientCertificateFilePath!);
        var key = config.ClientCertificateKeyData is not null
            ? Encoding.UTF8.GetString(Convert.FromBase64String(config.ClientCertificateKeyData))
            : config.ClientKeyFilePath is not null ? File.ReadAllText(config.ClientKeyFilePath) : null;
        return key is null ? X509Certificate2.CreateFromPem(certificate) : X509Certificate2.CreateFromPem(certificate, key);
    }

    /// <summary>Adds the kubeconfig's credential to each request: a token (refreshed by its provider) or a user and password.</summary>
    private sealed class CredentialHandler(KubernetesClientConfiguration config) : DelegatingHandler
    {
        protected override async Task<HttpResponseMessage> SendAsync(HttpRequestMessage request, CancellationToken cancellationToken)
        {
            if (config.TokenProvider is not null)
            {
                request.Headers.Authorization = await config.TokenProvider.GetAuthenticationHeaderAsync(cancellationToken).ConfigureAwait(false);
            }
            else if (config.AccessToken is not null)
            {
                request.Headers.Authorization = new AuthenticationHeaderValue("Bearer", config.AccessToken);
            }
            else if (config.Username is not null)
            {
                request.Headers.Authorization = new AuthenticationHeaderValue("Basic", Convert.ToBase64String(Encoding.UTF8.GetBytes($"{config.Username}:{config.Password}")));
            }

            return await base.SendAsync(request, cancellationToken).ConfigureAwait(false);
        }
    }
}
