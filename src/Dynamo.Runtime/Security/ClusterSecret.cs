using System.Buffers.Text;
using System.Globalization;
using System.Security.Cryptography;
using System.Text;
using Microsoft.Extensions.Options;

namespace Dynamo.Runtime.Security;

/// <summary>
/// The secret every process of one deployment shares (<c>Dynamo:Cluster:Secret</c>, or <c>--cluster-secret-file</c>),
/// and the credentials derived from it. The secret itself never leaves the process: each use gets its own key,
/// <c>HMAC-SHA256(key: secret, data: "dynamo/PURPOSE/v1")</c>, so a key leaked from one use opens nothing else.
/// </summary>
/// <remarks>
/// <para>
/// <b>HTTP (frontend → worker).</b> Every request a frontend sends a worker carries
/// <c>X-Dynamo-Cluster-Auth: v1.UNIX_SECONDS.MAC</c>, where MAC is the unpadded base64url
/// <c>HMAC-SHA256(http key, "UNIX_SECONDS\nMETHOD\nPATH")</c>. The worker recomputes it and compares in constant time,
/// and accepts it only within <see cref="MaxClockSkew"/> of its own clock: a credential seen in a log or a capture
/// works for that method and path for minutes, not for ever, and names no other path. (There is no nonce cache, so a
/// captured credential can be replayed within the window; confidentiality of the traffic needs TLS or a private
/// network, which this does not provide.)
/// </para>
/// <para>
/// <b>Records (NATS).</b> <see cref="Sign"/> MACs a purpose, a key and a canonical payload; discovery records,
/// event-plane messages and transfer metadata are signed this way, and observers drop what does not verify.
/// </para>
/// </remarks>
public sealed class ClusterSecret
{
    /// <summary>Shortest secret accepted, in characters (<c>openssl rand -base64 32</c> gives 44).</summary>
    public const int MinimumLength = 32;

    /// <summary>Fewest different characters a secret must use: rejects <c>aaaa…</c> and <c>abab…</c> of any length.</summary>
    public const int MinimumDistinctCharacters = 8;

    /// <summary>The request header carrying the HTTP credential.</summary>
    public const string HttpHeader = "X-Dynamo-Cluster-Auth";

    /// <summary>How to make a secret, for error messages.</summary>
    public const string CreateHint =
        "create one with 'openssl rand -base64 32 > cluster.secret' (then 'chmod 600 cluster.secret') and pass --cluster-secret-file cluster.secret "
        + "to every frontend and worker of the deployment (or set DYNAMO__CLUSTER__SECRET)";

    /// <summary>How far a credential's time may be from the verifier's clock, either way.</summary>
    public static readonly TimeSpan MaxClockSkew = TimeSpan.FromMinutes(5);

    private const string HttpVersion = "v1";

    private readonly byte[] _httpKey;
    private readonly byte[] _signingKey;

    private ClusterSecret(byte[] secret, string source)
    {
        Source = source;
        _httpKey = DeriveKey(secret, "http");
        _signingKey = DeriveKey(secret, "sign");
        Fingerprint = Convert.ToHexStringLower(DeriveKey(secret, "fingerprint").AsSpan(0, 4));
        CryptographicOperations.ZeroMemory(secret);
    }

    /// <summary>Where the secret came from, for log lines: a key, a file path, or <c>generated</c>.</summary>
    public string Source { get; }

    /// <summary>
    /// Eight hex digits that identify the secret without revealing it: processes that log the same fingerprint hold
    /// the same secret, so a frontend and a worker that disagree are easy to spot.
    /// </summary>
    public string Fingerprint { get; }

    /// <summary>A fresh random secret (256 bits), for a deployment that lives in one process (<c>dynamo serve</c>).</summary>
    public static ClusterSecret Generate() => new(RandomNumberGenerator.GetBytes(32), "generated");

    /// <summary>A secret given as text; the surrounding whitespace is not part of it.</summary>
    /// <param name="secret">The secret.</param>
    /// <param name="source">The configuration key or file it came from; error messages name it.</param>
    /// <exception cref="OptionsValidationException">Too short, or too little variety.</exception>
    public static ClusterSecret FromText(string secret, string source)
    {
        ArgumentNullException.ThrowIfNull(secret);
        ArgumentException.ThrowIfNullOrEmpty(source);
        var text = secret.Trim();
        if (Problem(text) is { } problem)
        {
            throw Invalid($"{source}: {problem}; {CreateHint}.");
        }

        return new ClusterSecret(Encoding.UTF8.GetBytes(text), source);
    }

    /// <summary>
    /// The secret <paramref name="options"/> configure, read and checked; null when neither
    /// <see cref="ClusterOptions.Secret"/> nor <see cref="ClusterOptions.SecretFile"/> is set.
    /// </summary>
    /// <exception cref="OptionsValidationException">Both are set, the file cannot be read, or the secret is weak; the message names the key or the path and the fix.</exception>
    public static ClusterSecret? Load(ClusterOptions options)
    {
        ArgumentNullException.ThrowIfNull(options);
        const string s = ClusterOptions.SectionName;
        if (options.Secret is not null && options.SecretFile is not null)
        {
            throw Invalid($"{s}:Secret and {s}:SecretFile (--cluster-secret-file) are both set; set one.");
        }

        if (options.Secret is not null)
        {
            return FromText(options.Secret, $"{s}:Secret");
        }

        if (options.SecretFile is not { } path)
        {
            return null;
        }

        var source = $"--cluster-secret-file {path}";
        if (string.IsNullOrWhiteSpace(path))
        {
            throw Invalid($"{s}:SecretFile (--cluster-secret-file) is empty; name the file that holds the secret, or {CreateHint}.");
        }

        if (Directory.Exists(path))
        {
            throw Invalid($"{source}: this is a folder, not a file; name the file that holds the secret, or {CreateHint}.");
        }

        string text;
        try
        {
            text = File.ReadAllText(path);
        }
        catch (Exception ex) when (ex is FileNotFoundException or DirectoryNotFoundException)
        {
            throw Invalid($"{source}: the file does not exist; {CreateHint}.");
        }
        catch (UnauthorizedAccessException)
        {
            throw Invalid($"{source}: the file cannot be read (permission denied); make it readable by the user running dynamo (and by no one else: chmod 600).");
        }
        catch (IOException ex)
        {
            throw Invalid($"{source}: the file cannot be read ({ex.Message}); {CreateHint}.");
        }

        if (string.IsNullOrWhiteSpace(text))
        {
            throw Invalid($"{source}: the file is empty; {CreateHint}.");
        }

        return FromText(text, source);
    }

    /// <summary>The <see cref="HttpHeader"/> value for a request to <paramref name="path"/> (no query) sent at <paramref name="now"/>.</summary>
    public string CreateHttpCredential(string method, string path, DateTimeOffset now)
    {
        var seconds = now.ToUnixTimeSeconds();
        Span<byte> mac = stackalloc byte[HMACSHA256.HashSizeInBytes];
        HttpMac(seconds, method, path, mac);
        return string.Create(CultureInfo.InvariantCulture, $"{HttpVersion}.{seconds}.{Base64Url.EncodeToString(mac)}");
    }

    /// <summary>Checks a <see cref="HttpHeader"/> value against the request's method and path (no query) at <paramref name="now"/>.</summary>
    public ClusterCredentialCheck VerifyHttpCredential(string? credential, string method, string path, DateTimeOffset now)
    {
        if (string.IsNullOrEmpty(credential))
        {
            return ClusterCredentialCheck.Missing;
        }

        var parts = credential.Split('.');
        if (parts.Length != 3 || parts[0] != HttpVersion
            || !long.TryParse(parts[1], NumberStyles.None, CultureInfo.InvariantCulture, out var seconds))
        {
            return ClusterCredentialCheck.Malformed;
        }

        Span<byte> given = stackalloc byte[HMACSHA256.HashSizeInBytes + 3];
        // TryDecode throws, rather than failing, on characters outside the alphabet: check them first.
        if (parts[2].Length > 64 || !Base64Url.IsValid(parts[2])
            || !Base64Url.TryDecodeFromChars(parts[2], given, out var length) || length != HMACSHA256.HashSizeInBytes)
        {
            return ClusterCredentialCheck.Malformed;
        }

        Span<byte> expected = stackalloc byte[HMACSHA256.HashSizeInBytes];
        HttpMac(seconds, method, path, expected);
        if (!CryptographicOperations.FixedTimeEquals(given[..length], expected))
        {
            return ClusterCredentialCheck.Invalid;
        }

        var skew = Math.Abs(now.ToUnixTimeSeconds() - seconds);
        return skew <= MaxClockSkew.TotalSeconds ? ClusterCredentialCheck.Valid : ClusterCredentialCheck.Expired;
    }

    /// <summary>
    /// <c>HMAC-SHA256(signing key, purpose NUL key NUL payload)</c>: binds a payload to what it is (the purpose: discovery
    /// record, event, transfer metadata) and where it is stored or sent (the key or subject), so a signed value cannot
    /// be moved to another key or subject.
    /// </summary>
    public byte[] Sign(string purpose, string key, ReadOnlySpan<byte> payload)
    {
        var mac = new byte[HMACSHA256.HashSizeInBytes];
        SignInto(purpose, key, payload, mac);
        return mac;
    }

    /// <summary>True when <paramref name="signature"/> is <see cref="Sign"/>'s for the same inputs; compared in constant time.</summary>
    public bool Verify(string purpose, string key, ReadOnlySpan<byte> payload, ReadOnlySpan<byte> signature)
    {
        if (signature.Length != HMACSHA256.HashSizeInBytes)
        {
            return false;
        }

        Span<byte> expected = stackalloc byte[HMACSHA256.HashSizeInBytes];
        SignInto(purpose, key, payload, expected);
        return CryptographicOperations.FixedTimeEquals(signature, expected);
    }

    /// <summary>The key for another use of the secret (for example the KV transfer agents' handshake); never the secret itself.</summary>
    public byte[] DeriveKey(string purpose) => DeriveKey(_signingKey, "derived/" + purpose);

    public override string ToString() => $"cluster secret {Fingerprint} ({Source})";

    private static string? Problem(string text)
    {
        if (text.Length < MinimumLength)
        {
            return $"the secret is too short ({text.Length} characters; at least {MinimumLength} are needed)";
        }

        if (text.Distinct().Count() < MinimumDistinctCharacters)
        {
            return $"the secret has too little variety (fewer than {MinimumDistinctCharacters} different characters); use random bytes";
        }

        return null;
    }

    private static OptionsValidationException Invalid(string message) =>
        new(ClusterOptions.SectionName, typeof(ClusterOptions), [message]);

    private static byte[] DeriveKey(byte[] secret, string purpose) =>
        HMACSHA256.HashData(secret, Encoding.UTF8.GetBytes($"dynamo/{purpose}/v1"));

    private void HttpMac(long seconds, string method, string path, Span<byte> destination)
    {
        var data = Encoding.UTF8.GetBytes(string.Create(CultureInfo.InvariantCulture, $"{seconds}\n{method.ToUpperInvariant()}\n{path}"));
        HMACSHA256.HashData(_httpKey, data, destination);
    }

    private void SignInto(string purpose, string key, ReadOnlySpan<byte> payload, Span<byte> destination)
    {
        using var hmac = IncrementalHash.CreateHMAC(HashAlgorithmName.SHA256, _signingKey);
        hmac.AppendData(Encoding.UTF8.GetBytes(purpose));
        hmac.AppendData([0]);
        hmac.AppendData(Encoding.UTF8.GetBytes(key));
        hmac.AppendData([0]);
        hmac.AppendData(payload);
        hmac.GetHashAndReset(destination);
    }
}
