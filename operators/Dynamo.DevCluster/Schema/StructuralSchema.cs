using System.Globalization;
using System.Text.Json;
using System.Text.Json.Nodes;
using System.Text.RegularExpressions;

namespace Dynamo.DevCluster.Schema;

/// <summary>
/// A CRD's OpenAPI v3 structural schema: applies defaults, prunes (or reports) unknown fields and validates type,
/// properties, required, enum, minimum/maximum (and exclusive forms), minLength/maxLength, pattern, items,
/// minItems/maxItems, uniqueItems, minProperties/maxProperties, additionalProperties, nullable,
/// x-kubernetes-preserve-unknown-fields, x-kubernetes-int-or-string and allOf/anyOf/oneOf/not, with errors naming
/// the field the way the real server does (<c>spec.components.decode.replicas</c>).
/// </summary>
public sealed class StructuralSchema
{
    private static readonly HashSet<string> Known =
    [
        "type", "properties", "required", "enum", "minimum", "maximum", "exclusiveMinimum", "exclusiveMaximum",
        "minLength", "maxLength", "pattern", "items", "minItems", "maxItems", "uniqueItems", "minProperties",
        "maxProperties", "additionalProperties", "nullable", "x-kubernetes-preserve-unknown-fields",
        "x-kubernetes-int-or-string", "x-kubernetes-embedded-resource", "default", "description", "format", "title",
        "example", "externalDocs", "allOf", "anyOf", "oneOf", "not", "x-kubernetes-list-type",
        "x-kubernetes-list-map-keys", "x-kubernetes-map-type", "multipleOf",
    ];

    public string? Type { get; private init; }
    public IReadOnlyDictionary<string, StructuralSchema>? Properties { get; private init; }
    public IReadOnlyList<string> Required { get; private init; } = [];
    public IReadOnlyList<JsonNode?>? Enum { get; private init; }
    public double? Minimum { get; private init; }
    public double? Maximum { get; private init; }
    public bool ExclusiveMinimum { get; private init; }
    public bool ExclusiveMaximum { get; private init; }
    public double? MultipleOf { get; private init; }
    public long? MinLength { get; private init; }
    public long? MaxLength { get; private init; }
    public Regex? Pattern { get; private init; }
    public StructuralSchema? Items { get; private init; }
    public long? MinItems { get; private init; }
    public long? MaxItems { get; private init; }
    public bool UniqueItems { get; private init; }
    public long? MinProperties { get; private init; }
    public long? MaxProperties { get; private init; }
    /// <summary>The schema of map values (<c>additionalProperties: {schema}</c>).</summary>
    public StructuralSchema? AdditionalProperties { get; private init; }
    /// <summary><c>additionalProperties: true</c>: any extra field is kept.</summary>
    public bool AdditionalPropertiesAllowed { get; private init; }
    public bool Nullable { get; private init; }
    public bool PreserveUnknownFields { get; private init; }
    public bool IntOrString { get; private init; }
    public bool EmbeddedResource { get; private init; }
    public JsonNode? Default { get; private init; }
    public IReadOnlyList<StructuralSchema> AllOf { get; private init; } = [];
    public IReadOnlyList<StructuralSchema> AnyOf { get; private init; } = [];
    public IReadOnlyList<StructuralSchema> OneOf { get; private init; } = [];
    public StructuralSchema? Not { get; private init; }
    /// <summary>The schema as given, for OpenAPI publication.</summary>
    public JsonObject Source { get; private init; } = [];

    /// <summary>Reads a schema; an unsupported or malformed keyword throws a 422 cause naming it under <paramref name="path"/>.</summary>
    public static StructuralSchema Parse(JsonObject node, string path, List<StatusCause> problems)
    {
        foreach (var (key, _) in node)
        {
            if (!Known.Contains(key))
            {
                problems.Add(new StatusCause($"{path}.{key}",
                    key == "x-kubernetes-validations"
                        ? "Forbidden: CEL validation rules are not supported by the dev cluster's API server"
                        : $"Forbidden: the schema keyword '{key}' is not supported", "FieldValueForbidden"));
            }
        }
        var type = Str(node, "type");
        if (type is not null and not ("object" or "array" or "string" or "integer" or "number" or "boolean"))
            problems.Add(new StatusCause($"{path}.type", $"Unsupported value: \"{type}\": supported values: \"array\", \"boolean\", \"integer\", \"number\", \"object\", \"string\"", "FieldValueNotSupported"));

        Dictionary<string, StructuralSchema>? props = null;
        if (node["properties"] is JsonObject p)
        {
            props = new Dictionary<string, StructuralSchema>(StringComparer.Ordinal);
            foreach (var (name, child) in p)
            {
                if (child is JsonObject c) props[name] = Parse(c, $"{path}.properties[{name}]", problems);
            }
        }
        StructuralSchema? additional = null;
        var additionalAllowed = false;
        switch (node["additionalProperties"])
        {
            case JsonObject a:
                additional = Parse(a, $"{path}.additionalProperties", problems);
                break;
            case JsonValue v when v.TryGetValue<bool>(out var b):
                additionalAllowed = b;
                break;
        }
        if (props is not null && (additional is not null || additionalAllowed))
            problems.Add(new StatusCause($"{path}.additionalProperties", "Forbidden: additionalProperties and properties are mutual exclusive", "FieldValueForbidden"));

        Regex? pattern = null;
        if (Str(node, "pattern") is { } pat)
        {
            try
            {
                pattern = new Regex(pat, RegexOptions.CultureInvariant, TimeSpan.FromSeconds(1));
            }
            catch (ArgumentException e)
            {
                problems.Add(new StatusCause($"{path}.pattern", $"Invalid value: \"{pat}\": {e.Message}"));
            }
        }

        return new StructuralSchema
        {
            Type = type,
            Properties = props,
            Required = node["required"] is JsonArray req ? req.Select(r => (string?)r).OfType<string>().ToList() : [],
            Enum = node["enum"] is JsonArray en ? en.Select(e => e?.DeepClone()).ToList() : null,
            Minimum = Num(node, "minimum"),
            Maximum = Num(node, "maximum"),
            ExclusiveMinimum = Bool(node, "exclusiveMinimum"),
            ExclusiveMaximum = Bool(node, "exclusiveMaximum"),
            MultipleOf = Num(node, "multipleOf"),
            MinLength = (long?)Num(node, "minLength"),
            MaxLength = (long?)Num(node, "maxLength"),
            Pattern = pattern,
            Items = node["items"] is JsonObject items ? Parse(items, $"{path}.items", problems) : null,
            MinItems = (long?)Num(node, "minItems"),
            MaxItems = (long?)Num(node, "maxItems"),
            UniqueItems = Bool(node, "uniqueItems"),
            MinProperties = (long?)Num(node, "minProperties"),
            MaxProperties = (long?)Num(node, "maxProperties"),
            AdditionalProperties = additional,
            AdditionalPropertiesAllowed = additionalAllowed,
            Nullable = Bool(node, "nullable"),
            PreserveUnknownFields = Bool(node, "x-kubernetes-preserve-unknown-fields"),
            IntOrString = Bool(node, "x-kubernetes-int-or-string"),
            EmbeddedResource = Bool(node, "x-kubernetes-embedded-resource"),
            Default = node["default"]?.DeepClone(),
            AllOf = List(node, "allOf", path, problems),
            AnyOf = List(node, "anyOf", path, problems),
            OneOf = List(node, "oneOf", path, problems),
            Not = node["not"] is JsonObject not ? Parse(not, $"{path}.not", problems) : null,
            Source = node.DeepClone().AsObject(),
        };
    }

    /// <summary>
    /// Defaults, prunes and validates a whole custom resource in place. <paramref name="unknownFields"/> gets the
    /// path of each field dropped; the returned causes are the validation failures.
    /// </summary>
    public List<StatusCause> Apply(JsonObject obj, List<string> unknownFields)
    {
        var causes = new List<StatusCause>();
        // apiVersion, kind and metadata are the server's; the schema speaks for the rest of the object.
        var root = obj.DeepClone().AsObject();
        foreach (var k in new[] { "apiVersion", "kind", "metadata" }) root.Remove(k);
        Walk(root, "", causes, unknownFields, prune: true);
        foreach (var (k, _) in obj.ToList())
        {
            if (k is "apiVersion" or "kind" or "metadata") continue;
            obj.Remove(k);
        }
        foreach (var (k, v) in root.ToList())
        {
            root.Remove(k);
            obj[k] = v;
        }
        return causes;
    }

    private void Walk(JsonNode? value, string path, List<StatusCause> causes, List<string>? unknown, bool prune)
    {
        var field = path.Length == 0 ? "<root>" : path;
        if (value is null)
        {
            if (!Nullable && Type is not null)
                causes.Add(new StatusCause(field, $"Invalid value: \"null\": {field} in body must be of type {Type}: \"null\"", "FieldValueTypeInvalid"));
            return;
        }
        var kind = value.GetValueKind();
        if (IntOrString)
        {
            if (!(kind == JsonValueKind.String || IsInteger(value)))
                causes.Add(new StatusCause(field, $"Invalid value: \"{Describe(kind)}\": {field} in body must be of type integer or string: \"{Describe(kind)}\"", "FieldValueTypeInvalid"));
        }
        else if (Type is not null && !TypeMatches(Type, value, kind))
        {
            causes.Add(new StatusCause(field, $"Invalid value: \"{Describe(kind)}\": {field} in body must be of type {Type}: \"{Describe(kind)}\"", "FieldValueTypeInvalid"));
            return;
        }

        if (Enum is not null && !Enum.Any(e => JsonNode.DeepEquals(e, value)))
        {
            var supported = string.Join(", ", Enum.Select(e => e?.ToJsonString() ?? "null"));
            causes.Add(new StatusCause(field, $"Unsupported value: {value.ToJsonString()}: supported values: {supported}", "FieldValueNotSupported"));
        }

        switch (kind)
        {
            case JsonValueKind.Number:
                CheckNumber(Store.JsonPaths.Number(value)!.Value, field, causes);
                break;
            case JsonValueKind.String:
                CheckString(value.GetValue<string>(), field, causes);
                break;
            case JsonValueKind.Array:
                CheckArray(value.AsArray(), path, field, causes, unknown, prune);
                break;
            case JsonValueKind.Object:
                CheckObject(value.AsObject(), path, field, causes, unknown, prune);
                break;
        }

        foreach (var s in AllOf) s.Walk(value, path, causes, null, prune: false);
        if (AnyOf.Count > 0 && !AnyOf.Any(s => s.Passes(value, path)))
            causes.Add(new StatusCause(field, $"Invalid value: {Trim(value)}: {field} in body must match at least one schema in anyOf"));
        if (OneOf.Count > 0 && OneOf.Count(s => s.Passes(value, path)) != 1)
            causes.Add(new StatusCause(field, $"Invalid value: {Trim(value)}: {field} in body must match exactly one schema in oneOf"));
        if (Not is not null && Not.Passes(value, path))
            causes.Add(new StatusCause(field, $"Invalid value: {Trim(value)}: {field} in body must not match the schema in not"));
    }

    private bool Passes(JsonNode? value, string path)
    {
        var causes = new List<StatusCause>();
        Walk(value?.DeepClone(), path, causes, null, prune: false);
        return causes.Count == 0;
    }

    private void CheckNumber(double n, string field, List<StatusCause> causes)
    {
        if (Minimum is { } min && (ExclusiveMinimum ? n <= min : n < min))
            causes.Add(new StatusCause(field, $"Invalid value: {Fmt(n)}: {field} in body should be greater than {(ExclusiveMinimum ? "" : "or equal to ")}{Fmt(min)}"));
        if (Maximum is { } max && (ExclusiveMaximum ? n >= max : n > max))
            causes.Add(new StatusCause(field, $"Invalid value: {Fmt(n)}: {field} in body should be less than {(ExclusiveMaximum ? "" : "or equal to ")}{Fmt(max)}"));
        if (MultipleOf is { } m && m > 0 && Math.Abs(n / m - Math.Round(n / m)) > 1e-9)
            causes.Add(new StatusCause(field, $"Invalid value: {Fmt(n)}: {field} in body should be a multiple of {Fmt(m)}"));
    }

    private void CheckString(string s, string field, List<StatusCause> causes)
    {
        var length = new StringInfoLength(s).Value;
        if (MinLength is { } min && length < min)
            causes.Add(new StatusCause(field, $"Invalid value: \"{s}\": {field} in body should be at least {min} chars long"));
        if (MaxLength is { } max && length > max)
            causes.Add(new StatusCause(field, $"Too long: may not be more than {max} bytes", "FieldValueTooLong"));
        if (Pattern is not null && !Pattern.IsMatch(s))
            causes.Add(new StatusCause(field, $"Invalid value: \"{s}\": {field} in body should match '{Pattern}'"));
    }

    private void CheckArray(JsonArray a, string path, string field, List<StatusCause> causes, List<string>? unknown, bool prune)
    {
        if (MinItems is { } min && a.Count < min)
            causes.Add(new StatusCause(field, $"Invalid value: {a.Count}: {field} in body should have at least {min} items"));
        if (MaxItems is { } max && a.Count > max)
            causes.Add(new StatusCause(field, $"Too many: {a.Count}: must have at most {max} items", "FieldValueTooMany"));
        if (UniqueItems)
        {
            for (var i = 0; i < a.Count; i++)
            {
                for (var j = 0; j < i; j++)
                {
                    if (JsonNode.DeepEquals(a[i], a[j]))
                        causes.Add(new StatusCause($"{path}[{i}]", $"Duplicate value: {Trim(a[i])}", "FieldValueDuplicate"));
                }
            }
        }
        if (Items is null) return;
        for (var i = 0; i < a.Count; i++)
        {
            if (a[i] is JsonObject o && prune) Items.ApplyDefaults(o);
            Items.Walk(a[i], $"{path}[{i}]", causes, unknown, prune);
        }
    }

    private void CheckObject(JsonObject o, string path, string field, List<StatusCause> causes, List<string>? unknown, bool prune)
    {
        if (prune) ApplyDefaults(o);
        foreach (var r in Required)
        {
            if (!o.ContainsKey(r)) causes.Add(new StatusCause(Join(path, r), "Required value", "FieldValueRequired"));
        }
        if (MinProperties is { } minP && o.Count < minP)
            causes.Add(new StatusCause(field, $"Invalid value: {o.Count}: {field} in body should have at least {minP} properties"));
        if (MaxProperties is { } maxP && o.Count > maxP)
            causes.Add(new StatusCause(field, $"Too many: {o.Count}: must have at most {maxP} items", "FieldValueTooMany"));

        foreach (var (name, child) in o.ToList())
        {
            var childPath = Join(path, name);
            if (Properties is not null && Properties.TryGetValue(name, out var ps))
            {
                ps.Walk(child, childPath, causes, unknown, prune);
            }
            else if (AdditionalProperties is not null)
            {
                AdditionalProperties.Walk(child, childPath, causes, unknown, prune);
            }
            else if (!AdditionalPropertiesAllowed && !PreserveUnknownFields && !(EmbeddedResource && name is "apiVersion" or "kind" or "metadata") && prune)
            {
                unknown?.Add(childPath);
                o.Remove(name);
            }
        }
    }

    private void ApplyDefaults(JsonObject o)
    {
        if (Properties is null) return;
        foreach (var (name, ps) in Properties)
        {
            if (ps.Default is not null && (!o.TryGetPropertyValue(name, out var existing) || (existing is null && !ps.Nullable)))
                o[name] = ps.Default.DeepClone();
        }
    }

    private static bool TypeMatches(string type, JsonNode value, JsonValueKind kind) => type switch
    {
        "object" => kind == JsonValueKind.Object,
        "array" => kind == JsonValueKind.Array,
        "string" => kind == JsonValueKind.String,
        "boolean" => kind is JsonValueKind.True or JsonValueKind.False,
        "number" => kind == JsonValueKind.Number,
        "integer" => IsInteger(value),
        _ => true,
    };

    private static bool IsInteger(JsonNode value) =>
        Store.JsonPaths.Number(value) is { } d && d == Math.Floor(d) && !double.IsInfinity(d);

    private static string Describe(JsonValueKind kind) => kind switch
    {
        JsonValueKind.Object => "object",
        JsonValueKind.Array => "array",
        JsonValueKind.String => "string",
        JsonValueKind.Number => "number",
        JsonValueKind.True or JsonValueKind.False => "boolean",
        _ => "null",
    };

    private static string Join(string path, string name) => path.Length == 0 ? name : $"{path}.{name}";

    private static string Fmt(double d) => d.ToString(CultureInfo.InvariantCulture);

    private static string Trim(JsonNode? n)
    {
        var s = n?.ToJsonString() ?? "null";
        return s.Length > 80 ? s[..77] + "..." : s;
    }

    private static string? Str(JsonObject o, string key) => o[key] is JsonValue v && v.TryGetValue<string>(out var s) ? s : null;

    private static bool Bool(JsonObject o, string key) => o[key] is JsonValue v && v.TryGetValue<bool>(out var b) && b;

    private static double? Num(JsonObject o, string key) =>
        Store.JsonPaths.Number(o[key]);

    private static List<StructuralSchema> List(JsonObject o, string key, string path, List<StatusCause> problems) =>
        o[key] is JsonArray a
            ? a.Select((s, i) => s is JsonObject so ? Parse(so, $"{path}.{key}[{i}]", problems) : null).OfType<StructuralSchema>().ToList()
            : [];

    /// <summary>String length in characters (runes), as the server's minLength/maxLength count them.</summary>
    private readonly struct StringInfoLength(string s)
    {
        public int Value { get; } = s.EnumerateRunes().Count();
    }
}
