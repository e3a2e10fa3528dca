namespace Dynamo.Contracts.OpenAi;

/// <summary>
/// A request that must end with an OpenAI-shaped error. Thrown by validation and by the request path;
/// the gateway and the worker turn it into <see cref="ErrorResponse"/> with <see cref="StatusCode"/>.
/// </summary>
public sealed class OpenAiException : Exception
{
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

    public ErrorResponse ToResponse() => new(new ErrorBody(Message, Type, Param, Code));

    public static OpenAiException BadRequest(string message, string? param = null, string? code = null) =>
        new(400, message, "invalid_request_error", param, code);
}
