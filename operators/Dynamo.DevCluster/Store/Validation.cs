using System.Text.RegularExpressions;

namespace Dynamo.DevCluster.Store;

/// <summary>Name rules the real server applies.</summary>
public static partial class Validation
{
    [GeneratedRegex("^[a-z0-9]([-a-z0-9]*[a-z0-9])?$")]
    private static partial Regex Dns1123Label();

    [GeneratedRegex("^[a-z0-9]([-a-z0-9]*[a-z0-9])?(\\.[a-z0-9]([-a-z0-9]*[a-z0-9])?)*$")]
    private static partial Regex Dns1123Subdomain();

    [GeneratedRegex("^[a-z]([-a-z0-9]*[a-z0-9])?$")]
    private static partial Regex Dns1035Label();

    public static void ValidateObjectName(ResourceType type, string name)
    {
        string? problem = type.StorageKey switch
        {
            "namespaces" => name.Length <= 63 && Dns1123Label().IsMatch(name) ? null
                : "a lowercase RFC 1123 label must consist of lower case alphanumeric characters or '-', and must start and end with an alphanumeric character (at most 63 characters)",
            "services" => name.Length <= 63 && Dns1035Label().IsMatch(name) ? null
                : "a DNS-1035 label must consist of lower case alphanumeric characters or '-', start with an alphabetic character, and end with an alphanumeric character (at most 63 characters)",
            _ => name.Length <= 253 && Dns1123Subdomain().IsMatch(name) ? null
                : "a lowercase RFC 1123 subdomain must consist of lower case alphanumeric characters, '-' or '.', and must start and end with an alphanumeric character (at most 253 characters)",
        };
        if (problem is not null)
            throw ApiException.Invalid(type, name, [new StatusCause("metadata.name", $"Invalid value: \"{name}\": {problem}")]);
    }
}
