namespace Dynamo.Contracts.OpenAi;

/// <summary>
/// A request that must end with an OpenAI-shaped error. Thrown by validation and by the request path;
/// the gateway and the worker turn it into <see cref="ErrorResponse"/> with <see cref="StatusCode"/>.
/// </summary>
public sealed class OpenAiException : Exception
{
    /// <summary>
    /// Longest <c>error.message</c> sent. Messages quote client values (shortened with <see cref="Shorten"/>); this cap
    /// is the backstop that keeps any error body small whatever a message quotes.
    /// </summary>
    public const int MaxMessageChars = 1024;

    /// <summary>How much of a client-supplied value (a model name, a path, a header) an error message quotes.</summary>
    public const int MaxEchoChars = 64;

    public OpenAiException(int statusCode, string message, string type = "invalid_request_error", string? param = null, string? code = null)
        : base(message)
    {
        StatusCode = statusCode;
        Type = type;
        Param = param;
        Code = code;
    }

    public int StatusCode { get; }

    public string Type { get; }

    public string? Param { get; }

    public string? Code { get; }

    /// <summary>
    /// When a retry can succeed (sent as <c>Retry-After</c>, whole seconds rounded up); null when the server cannot
    /// tell, and for errors a retry does not cure.
    /// </summary>
    public TimeSpan? RetryAfter { get; init; }

    public ErrorResponse ToResponse() =>
        new(new ErrorBody(Message.Length <= MaxMessageChars ? Message : Prefix(Message, MaxMessageChars) + "...", Type, Param, Code));

    public static OpenAiException BadRequest(string message, string? param = null, string? code = null) =>
        new(400, message, "invalid_request_error", param, code);

    /// <summary>
    /// A client-supplied value as an error message may quote it: at most <see cref="MaxEchoChars"/> characters
    /// (never splitting a surrogate pair) followed by "..." and the full length when it was longer.
    /// </summary>
    public static string Shorten(string? value)
    {
        if (value is null)
        {
            return "";
        }

        return value.Length <= MaxEchoChars ? value : $"{Prefix(value, MaxEchoChars)}... ({value.Length} chars)";
    }

    private static string Prefix(string value, int max) => value[..(char.IsHighSurrogate(value[max - 1]) ? max - 1 : max)];
}
