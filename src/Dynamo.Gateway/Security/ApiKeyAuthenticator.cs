using System.Security.Cryptography;
using System.Text;
using System.Threading.RateLimiting;
using Dynamo.Contracts.OpenAi;
using Microsoft.AspNetCore.Http;

namespace Dynamo.Gateway.Security;

/// <summary>
/// Checks bearer keys in constant time (every configured key is compared, by SHA-256 digest, whatever matches)
/// and applies each key's request-rate and concurrency limits.
/// </summary>
internal sealed class ApiKeyAuthenticator : IDisposable
{
    private readonly KeyEntry[] _keys;

    public ApiKeyAuthenticator(GatewayOptions options)
    {
        var auth = options.Auth;
        var keys = new List<ApiKeyOptions>(auth.Keys);
        if (auth.KeysFile is { } file)
        {
            foreach (var line in File.ReadAllLines(file))
            {
                var key = line.Trim();
                if (key.Length > 0 && !key.StartsWith('#'))
                {
                    keys.Add(new ApiKeyOptions { Key = key });
                }
            }
        }

        _keys = [.. keys.Select((k, i) => new KeyEntry(
            k.Name ?? $"key-{i}",
            SHA256.HashData(Encoding.UTF8.GetBytes(k.Key)),
            (k.RequestsPerMinute ?? auth.RequestsPerMinute) is { } rpm
                ? new TokenBucketRateLimiter(new TokenBucketRateLimiterOptions
                {
                    TokenLimit = rpm,
                    TokensPerPeriod = rpm,
                    ReplenishmentPeriod = TimeSpan.FromMinutes(1),
                    QueueLimit = 0,
                    AutoReplenishment = true,
                })
                : null,
            (k.MaxConcurrentRequests ?? auth.MaxConcurrentRequests) is { } concurrency
                ? new ConcurrencyLimiter(new ConcurrencyLimiterOptions { PermitLimit = concurrency, QueueLimit = 0 })
                : null))];
    }

    public bool Enabled => _keys.Length > 0;

    /// <summary>Authenticates and admits the request; the returned lease is held until the response ends.</summary>
    public IDisposable Admit(HttpContext context)
    {
        var key = Find(context.Request.Headers.Authorization.ToString())
            ?? throw new OpenAiException(StatusCodes.Status401Unauthorized,
                "Incorrect or missing API key. Send it as 'Authorization: Bearer KEY'.", "invalid_request_error", null, "invalid_api_key");

        if (key.Rate is { } rate)
        {
            using var lease = rate.AttemptAcquire();
            if (!lease.IsAcquired)
            {
                throw new OpenAiException(StatusCodes.Status429TooManyRequests,
                    $"Rate limit reached for API key '{key.Name}'; retry later.", "rate_limit_exceeded", null, "rate_limit_exceeded");
            }
        }

        if (key.Concurrency is { } concurrency)
        {
            var slot = concurrency.AttemptAcquire();
            if (!slot.IsAcquired)
            {
                slot.Dispose();
                throw new OpenAiException(StatusCodes.Status429TooManyRequests,
                    $"Too many concurrent requests for API key '{key.Name}'; retry later.", "rate_limit_exceeded", null, "concurrency_limit_exceeded");
            }

            return slot;
        }

        return NoLease.Instance;
    }

    public void Dispose()
    {
        foreach (var key in _keys)
        {
            key.Rate?.Dispose();
            key.Concurrency?.Dispose();
        }
    }

    private KeyEntry? Find(string authorization)
    {
        const string Bearer = "Bearer ";
        var presented = authorization.StartsWith(Bearer, StringComparison.OrdinalIgnoreCase) ? authorization[Bearer.Length..].Trim() : "";
        Span<byte> digest = stackalloc byte[32];
        SHA256.HashData(Encoding.UTF8.GetBytes(presented), digest);
        KeyEntry? match = null;
        foreach (var key in _keys)
        {
            // No early exit: the time taken does not say which key, or how much of one, matched.
            if (CryptographicOperations.FixedTimeEquals(digest, key.Digest) & presented.Length > 0)
            {
                match = key;
            }
        }

        return match;
    }

    private sealed record KeyEntry(string Name, byte[] Digest, TokenBucketRateLimiter? Rate, ConcurrencyLimiter? Concurrency);

    private sealed class NoLease : IDisposable
    {
        public static readonly NoLease Instance = new();

        public void Dispose()
        {
        }
    }
}
