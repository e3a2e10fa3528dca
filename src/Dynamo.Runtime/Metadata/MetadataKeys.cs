namespace Dynamo.Runtime.Metadata;

/// <summary>The key rule of <see cref="IMetadataStore"/> and of discovery, shared by every implementation.</summary>
public static class MetadataKeys
{
    /// <summary>
    /// Throws <see cref="ArgumentException"/> unless <paramref name="key"/> is ASCII letters, digits, <c>-</c>,
    /// <c>_</c>, <c>=</c> and <c>/</c>, in dot-separated non-empty tokens (what a JetStream KV key allows).
    /// </summary>
    public static void Validate(string key, string? paramName = null)
    {
        ArgumentException.ThrowIfNullOrEmpty(key, paramName ?? nameof(key));
        var tokenLength = 0;
        foreach (var c in key)
        {
            if (c == '.')
            {
                if (tokenLength == 0)
                {
                    break;
                }

                tokenLength = 0;
                continue;
            }

            if (!(char.IsAsciiLetterOrDigit(c) || c is '-' or '_' or '=' or '/'))
            {
                throw new ArgumentException($"Key '{key}' has '{c}'; use letters, digits, '-', '_', '=', '/' and '.' between tokens.", paramName ?? nameof(key));
            }

            tokenLength++;
        }

        if (tokenLength == 0)
        {
            throw new ArgumentException($"Key '{key}' has an empty token.", paramName ?? nameof(key));
        }
    }
}
