using System.Security.Cryptography;
using System.Text;
using System.Threading.RateLimiting;
using Dynamo.Contracts.OpenAi;
using Dynamo.Gateway.Limits;
using Dynamo.Gateway.Observability;
using Microsoft.AspNetCore.Http;
using Microsoft.Extensions.Logging;

namespace Dynamo.Gateway.Security;

/// <summary>
/// Checks bearer keys in constant time (every configured key is compared, by SHA-256 digest, whatever matches),
/// throttles client addresses that fail too often, and applies each key's request-rate and concurrency limits.
/// </summary>
internal sealed partial class ApiKeyAuthenticator : IDisposable
{
    private readonly KeyEntry[] _keys;
    private readonly FailedAuthThrottle? _failures;
    private readonly GatewayMetrics _metrics;
    private readonly ILogger _logger;

    public ApiKeyAuthenticator(GatewayOptions options, GatewayMetrics metrics, TimeProvider time, ILogger<ApiKeyAuthenticator> logger)
    {
        var auth = options.Auth;
        var (keys, problems) = ApiKeys.Load(auth, GatewayOptions.SectionName);
        if (problems.Count > 0)
        {
            throw new InvalidOperationException(string.Join(Environment.NewLine, problems));
        }

        _metrics = metrics;
        _logger = logger;
        _failures = auth.MaxFailuresPerClient > 0 ? new FailedAuthThrottle(auth.MaxFailuresPerClient, auth.FailureWindow, time) : null;
        _keys = [.. keys.Select((k, i) => new KeyEntry(
            k.Name ?? $"key-{i}",
            SHA256.HashData(Encoding.UTF8.GetBytes(k.Key)),
            (k.RequestsPerMinute ?? auth.RequestsPerMinute) is { } rpm ? new RateBudget(rpm, TimeSpan.FromMinutes(1), time) : null,
            (k.MaxConcurrentRequests ?? auth.MaxConcurrentRequests) is { } concurrency
                ? new ConcurrencyLimiter(new ConcurrencyLimiterOptions { PermitLimit = concurrency, QueueLimit = 0 })
                : null))];
    }

    public bool Enabled => _keys.Length > 0;

    /// <summary>Authenticates and admits the request; the returned lease is held until the response ends.</summary>
    public IDisposable Admit(HttpContext context)
    {
        var client = context.Connection.RemoteIpAddress;
        if (_failures is not null && _failures.IsBlocked(client, out var blockedFor))
        {
            _metrics.AuthFailures.WithLabels("throttled").Inc();
            throw new OpenAiException(StatusCodes.Status429TooManyRequests,
                "Too many failed authentications from this address; retry after the time in Retry-After.", "rate_limit_exceeded", null, "too_many_auth_failures")
            {
                RetryAfter = blockedFor,
            };
        }

        var key = Find(context.Request.Headers.Authorization.ToString());
        if (key is null)
        {
            _metrics.AuthFailures.WithLabels("invalid_key").Inc();
            _failures?.RecordFailure(client);
            LogRejected(client?.ToString() ?? "unknown");
            throw new OpenAiException(StatusCodes.Status401Unauthorized,
                "Incorrect or missing API key. Send it as 'Authorization: Bearer KEY'.", "invalid_request_error", null, "invalid_api_key");
        }

        if (key.Rate is { } rate && !rate.TryTake(out var retryAfter))
        {
            throw new OpenAiException(StatusCodes.Status429TooManyRequests,
                $"Rate limit reached for API key '{key.Name}'; retry after the time in Retry-After.", "rate_limit_exceeded", null, "rate_limit_exceeded")
            {
                RetryAfter = retryAfter,
            };
        }

        if (key.Concurrency is { } concurrency)
        {
            var slot = concurrency.AttemptAcquire();
            if (!slot.IsAcquired)
            {
                slot.Dispose();

                // When a request in flight ends is unknown; a second is a hint, not a promise.
                throw new OpenAiException(StatusCodes.Status429TooManyRequests,
                    $"Too many concurrent requests for API key '{key.Name}'; retry when one of them has finished.", "rate_limit_exceeded", null, "concurrency_limit_exceeded")
                {
                    RetryAfter = TimeSpan.FromSeconds(1),
                };
            }

            return slot;
        }

        return NoLease.Instance;
    }

    public void Dispose()
    {
        foreach (var key in _keys)
        {
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

    [LoggerMessage(Level = LogLevel.Debug, Message = "Authentication failed for a request from {Client}")]
    private partial void LogRejected(string client);

    private sealed record KeyEntry(string Name, byte[] Digest, RateBudget? Rate, ConcurrencyLimiter? Concurrency);

    private sealed class NoLease : IDisposable
    {
        public static readonly NoLease Instance = new();

        public void Dispose()
        {
        }
    }
}
