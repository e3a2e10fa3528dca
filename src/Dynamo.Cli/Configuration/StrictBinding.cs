using System.Collections;
using System.ComponentModel;
using System.Globalization;
using System.Reflection;
using Microsoft.Extensions.Configuration;

namespace Dynamo.Cli.Configuration;

/// <summary>
/// Checks a configuration section against the options type it binds to, before the binder runs, so that every
/// section's problems read alike and name what to write instead: an unknown key with the nearest known one
/// (<c>Dynamo:Gateway:Prot: unknown key (did you mean Port?)</c>), and a value that does not convert with the expected
/// type in words (<c>Dynamo:Gateway:Port = 'abc': expected a whole number.</c>). It accepts no less than the binder
/// does (the same type converters, empty values left to the binder), so it only replaces the binder's messages.
/// </summary>
internal static class StrictBinding
{
    /// <summary>Every problem in <paramref name="section"/> as bound to <paramref name="type"/>, one line each.</summary>
    /// <param name="checkValues">False where the section's owner parses values itself (the router's modes).</param>
    public static List<string> Problems(IConfigurationSection section, Type type, bool checkValues = true)
    {
        ArgumentNullException.ThrowIfNull(section);
        ArgumentNullException.ThrowIfNull(type);
        var problems = new List<string>();
        Check(section, type, checkValues, problems);
        return problems;
    }

    /// <summary>
    /// The known name nearest to <paramref name="name"/> by edit distance (a swap of two neighbours counts as one
    /// edit), when it is close enough to be a typo; else null.
    /// </summary>
    public static string? Nearest(string name, IEnumerable<string> known)
    {
        ArgumentNullException.ThrowIfNull(name);
        ArgumentNullException.ThrowIfNull(known);
        string? best = null;
        var bestDistance = int.MaxValue;
        foreach (var candidate in known)
        {
            var distance = Distance(name.ToLowerInvariant(), candidate.ToLowerInvariant());
            if (distance < bestDistance)
            {
                (best, bestDistance) = (candidate, distance);
            }
        }

        return best is not null && bestDistance <= Math.Max(1, Math.Min(name.Length, best.Length) / 3) ? best : null;
    }

    /// <summary>The type in words, for messages: "a whole number", "true or false", "a time span such as 00:00:30".</summary>
    public static string Describe(Type type)
    {
        type = Nullable.GetUnderlyingType(type) ?? type;
        if (type.IsEnum)
        {
            return "one of " + string.Join(", ", Enum.GetNames(type));
        }

        return Type.GetTypeCode(type) switch
        {
            TypeCode.Int32 or TypeCode.Int64 => "a whole number",
            TypeCode.Int16 or TypeCode.UInt16 or TypeCode.Byte or TypeCode.SByte => "a small whole number",
            TypeCode.UInt32 or TypeCode.UInt64 => "a whole number, 0 or more",
            TypeCode.Double or TypeCode.Single or TypeCode.Decimal => "a number such as 0.5",
            TypeCode.Boolean => "true or false",
            _ when type == typeof(TimeSpan) => "a time span such as 00:00:30 (hh:mm:ss)",
            _ when type == typeof(Uri) => "a URL",
            _ when type == typeof(string) => "text",
            _ when type == typeof(byte[]) => "base64 bytes",
            _ => "a " + type.Name,
        };
    }

    /// <summary>For a number too large for its type, the largest it takes.</summary>
    private static string Range(string value, Type type) =>
        value.TrimStart('-').All(char.IsAsciiDigit) ? Type.GetTypeCode(type) switch
        {
            TypeCode.Int32 => $" between {int.MinValue} and {int.MaxValue}",
            TypeCode.Int64 => $" between {long.MinValue} and {long.MaxValue}",
            _ => "",
        } : "";

    private static void Check(IConfigurationSection section, Type type, bool checkValues, List<string> problems)
    {
        var underlying = Nullable.GetUnderlyingType(type) ?? type;
        var children = section.GetChildren().ToList();
        if (IsScalar(underlying))
        {
            if (children.Count > 0)
            {
                problems.Add($"{section.Path}: expected a value ({Describe(underlying)}), not a section with keys {string.Join(", ", children.Select(c => c.Key))}.");
            }
            else if (checkValues && !string.IsNullOrEmpty(section.Value) && !Converts(section.Value, underlying))
            {
                problems.Add(underlying == typeof(byte[])
                    ? $"{section.Path}: expected base64 (the value is not shown: it may be a secret)."
                    : $"{section.Path} = '{section.Value}': expected {Describe(underlying)}{Range(section.Value, underlying)}.");
            }

            return;
        }

        if (DictionaryValueType(underlying) is { } valueType)
        {
            foreach (var child in children)
            {
                Check(child, valueType, checkValues, problems);
            }

            return;
        }

        if (ElementType(underlying) is { } elementType)
        {
            foreach (var child in children)
            {
                if (!int.TryParse(child.Key, NumberStyles.None, CultureInfo.InvariantCulture, out _))
                {
                    problems.Add($"{child.Path}: expected a list (items 0, 1, ...), not a key named '{child.Key}'.");
                    continue;
                }

                Check(child, elementType, checkValues, problems);
            }

            return;
        }

        var properties = Bindable(underlying);
        foreach (var child in children)
        {
            if (properties.TryGetValue(child.Key, out var property))
            {
                Check(child, property.PropertyType, checkValues, problems);
                continue;
            }

            var nearest = Nearest(child.Key, properties.Keys);
            problems.Add(nearest is not null
                ? $"{child.Path}: unknown key (did you mean {nearest}?)"
                : $"{child.Path}: unknown key (known keys: {string.Join(", ", properties.Keys.Order(StringComparer.Ordinal))}).");
        }
    }

    /// <summary>What the binder fills: public instance properties it can set, or complex ones it binds into.</summary>
    internal static Dictionary<string, PropertyInfo> Bindable(Type type)
    {
        var properties = new Dictionary<string, PropertyInfo>(StringComparer.OrdinalIgnoreCase);
        foreach (var property in type.GetProperties(BindingFlags.Public | BindingFlags.Instance))
        {
            if (property.GetIndexParameters().Length == 0 && property.GetMethod is { IsPublic: true }
                && (property.SetMethod is { IsPublic: true } || BindsInto(property.PropertyType)))
            {
                properties.TryAdd(property.Name, property);
            }
        }

        return properties;
    }

    /// <summary>A get-only property the binder fills in place: a section object, or a collection it can add to.</summary>
    private static bool BindsInto(Type type) =>
        type.IsClass && !IsScalar(type) && !type.IsArray
        && (ElementType(type) is null || type.GetMethod("Add") is not null);

    internal static bool IsScalar(Type type) =>
        type.IsPrimitive || type.IsEnum || type == typeof(string) || type == typeof(decimal) || type == typeof(TimeSpan)
        || type == typeof(DateTime) || type == typeof(DateTimeOffset) || type == typeof(Guid) || type == typeof(Uri)
        || type == typeof(byte[]) || type == typeof(object)
        || (TypeDescriptor.GetConverter(type) is { } converter && converter.GetType() != typeof(TypeConverter) && converter.CanConvertFrom(typeof(string)));

    /// <summary>As the binder converts: base64 for bytes, else the type's converter with the invariant culture.</summary>
    private static bool Converts(string value, Type type)
    {
        if (type == typeof(string) || type == typeof(object))
        {
            return true;
        }

        if (type == typeof(byte[]))
        {
            return Convert.TryFromBase64String(value, new byte[value.Length], out _);
        }

        try
        {
            _ = TypeDescriptor.GetConverter(type).ConvertFromInvariantString(value);
            return true;
        }
        catch (Exception error) when (error is FormatException or ArgumentException or NotSupportedException or OverflowException || error.InnerException is FormatException or OverflowException)
        {
            return false;
        }
    }

    private static Type? DictionaryValueType(Type type)
    {
        foreach (var candidate in type.GetInterfaces().Prepend(type))
        {
            if (candidate.IsGenericType && candidate.GetGenericTypeDefinition() is var definition
                && (definition == typeof(IDictionary<,>) || definition == typeof(IReadOnlyDictionary<,>)))
            {
                return candidate.GetGenericArguments()[1];
            }
        }

        return null;
    }

    internal static Type? ElementType(Type type)
    {
        if (type.IsArray)
        {
            return type.GetElementType();
        }

        foreach (var candidate in type.GetInterfaces().Prepend(type))
        {
            if (candidate.IsGenericType && candidate.GetGenericTypeDefinition() == typeof(IEnumerable<>))
            {
                return candidate.GetGenericArguments()[0];
            }
        }

        return typeof(IEnumerable).IsAssignableFrom(type) ? typeof(object) : null;
    }

    /// <summary>Optimal string alignment distance: insertions, deletions, substitutions and swaps of neighbours.</summary>
    private static int Distance(string a, string b)
    {
        var d = new int[a.Length + 1, b.Length + 1];
        for (var i = 0; i <= a.Length; i++)
        {
            d[i, 0] = i;
        }

        for (var j = 0; j <= b.Length; j++)
        {
            d[0, j] = j;
        }

        for (var i = 1; i <= a.Length; i++)
        {
            for (var j = 1; j <= b.Length; j++)
            {
                var cost = a[i - 1] == b[j - 1] ? 0 : 1;
                d[i, j] = Math.Min(Math.Min(d[i - 1, j] + 1, d[i, j - 1] + 1), d[i - 1, j - 1] + cost);
                if (i > 1 && j > 1 && a[i - 1] == b[j - 2] && a[i - 2] == b[j - 1])
                {
                    d[i, j] = Math.Min(d[i, j], d[i - 2, j - 2] + 1);
                }
            }
        }

        return d[a.Length, b.Length];
    }
}
