namespace Dynamo.Bench.Metrics;

/// <summary>Names of error kinds in <c>errors_by_kind</c>; HTTP statuses are <c>http_NNN</c>.</summary>
public static class ErrorKinds
{
    public const string Connection = "connection";
    public const string Timeout = "timeout";
    public const string Stream = "stream";
    public const string Cancelled = "cancelled";
    public const string Rejected = "rejected";

    public static string Http(int status) => $"http_{status}";
}
