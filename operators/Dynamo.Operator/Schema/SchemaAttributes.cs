namespace Dynamo.Operator.Schema;

// Attributes on the API types that the CRD generator (CrdGenerator) turns into OpenAPI v3 validation. The property's
// description comes from System.ComponentModel.DescriptionAttribute; its JSON name is the camelCase property name.

/// <summary>The property must be present (OpenAPI <c>required</c> of the enclosing object).</summary>
[AttributeUsage(AttributeTargets.Property)]
public sealed class RequiredFieldAttribute : Attribute;

/// <summary>The value must be one of these strings (OpenAPI <c>enum</c>).</summary>
[AttributeUsage(AttributeTargets.Property)]
public sealed class EnumValuesAttribute(params string[] values) : Attribute
{
    public IReadOnlyList<string> Values { get; } = values;
}

/// <summary>Bounds of an integer (OpenAPI <c>minimum</c> / <c>maximum</c>); <see cref="long.MinValue"/> / <see cref="long.MaxValue"/> mean none.</summary>
[AttributeUsage(AttributeTargets.Property)]
public sealed class RangeAttribute(long minimum, long maximum = long.MaxValue) : Attribute
{
    public long Minimum { get; } = minimum;

    public long Maximum { get; } = maximum;
}

/// <summary>The string must match this regular expression (OpenAPI <c>pattern</c>) and be at most <see cref="MaxLength"/> long.</summary>
[AttributeUsage(AttributeTargets.Property)]
public sealed class PatternAttribute(string pattern, int maxLength = 0) : Attribute
{
    public string Pattern { get; } = pattern;

    public int MaxLength { get; } = maxLength;
}

/// <summary>A list must hold at least this many items (OpenAPI <c>minItems</c>).</summary>
[AttributeUsage(AttributeTargets.Property)]
public sealed class MinItemsAttribute(int count) : Attribute
{
    public int Count { get; } = count;
}

/// <summary>A free-form object: any fields are kept (<c>x-kubernetes-preserve-unknown-fields</c>).</summary>
[AttributeUsage(AttributeTargets.Property)]
public sealed class FreeFormAttribute : Attribute;

/// <summary>A value, or each value of a map, is an integer or a string such as a quantity (<c>x-kubernetes-int-or-string</c>).</summary>
[AttributeUsage(AttributeTargets.Property)]
public sealed class IntOrStringAttribute : Attribute;

/// <summary>A list keyed by a field (<c>x-kubernetes-list-type: map</c>), so each item is addressed by that key in patches.</summary>
[AttributeUsage(AttributeTargets.Property)]
public sealed class ListMapKeyAttribute(string key) : Attribute
{
    public string Key { get; } = key;
}
