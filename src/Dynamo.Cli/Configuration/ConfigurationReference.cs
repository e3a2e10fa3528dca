using System.Collections;
using System.Globalization;
using System.Reflection;
using System.Text;
using System.Text.RegularExpressions;
using System.Xml.Linq;

namespace Dynamo.Cli.Configuration;

/// <summary>
/// The configuration reference (<c>docs/configuration.md</c>), generated from the options classes themselves: every
/// key the binder fills, its type in words, its default (read from a new instance) and its description (the
/// property's XML documentation). <c>dynamo config reference</c> prints it; a test fails when the committed file
/// differs, so the reference cannot drift from the code.
/// </summary>
internal static partial class ConfigurationReference
{
    /// <summary>Every section under <c>Dynamo:</c>, in the order the reference lists them, with what it configures.</summary>
    internal static readonly (string Name, Type Type, string About)[] Sections =
    [
        ("Serve", typeof(ServeOptions), "What `dynamo serve` starts (and the model every process loads)."),
        ("Gateway", typeof(Gateway.GatewayOptions), "The OpenAI endpoint: listening, limits, API keys, disaggregation, migration."),
        ("Router", typeof(Router.RouterOptions), "How the gateway picks a worker."),
        ("Worker", typeof(Worker.WorkerOptions), "A worker process (`dynamo worker`)."),
        ("Mocker", typeof(Engine.Mocker.MockerOptions), "The simulated engine (`--engine mocker`)."),
        ("Engine", typeof(Engine.DotnetEngineOptions), "The .NET transformer engine (`--engine dotnet`)."),
        ("Nats", typeof(Runtime.Nats.NatsOptions), "The NATS connection of multi-process deployments."),
        ("Cluster", typeof(Runtime.Security.ClusterOptions), "The deployment's internal credential."),
        ("Transfer", typeof(Transfer.TransferAgentOptions), "The KV transfer agent of prefill and decode workers."),
        ("KvTransfer", typeof(Engine.Transfer.KvTransferOptions), "Pinning and reading KV blocks between prefill and decode."),
        ("Planner", typeof(Planner.PlannerOptions), "The SLA planner (`serve --planner`, `dynamo planner`, `replay --planner`)."),
    ];

    /// <summary>The whole reference as Markdown.</summary>
    public static string Markdown()
    {
        var text = new StringBuilder();
        text.Append("""
            # Configuration reference

            Generated from the options classes by `dynamo config reference` (do not edit by hand: a test compares this
            file with the code). Settings come from, lowest precedence first: these defaults, the YAML file given with
            `--config` (every key under `Dynamo:`), environment variables (`DYNAMO__GATEWAY__PORT=8001`: `__` for `:`),
            then command-line flags. Keys are case-insensitive. An unknown key or a value of the wrong type stops
            start-up with one line naming it; the ranges each key accepts are checked at start-up too and named the
            same way. List items are numbered keys (`Dynamo:Gateway:Auth:Keys:0:Key`, or a YAML list).

            """.Replace("\r\n", "\n", StringComparison.Ordinal));
        foreach (var (name, type, about) in Sections)
        {
            text.Append('\n').Append("## `Dynamo:").Append(name).Append("`\n").Append(about).Append("\n\n");
            text.Append("| key | type | default | description |\n| --- | --- | --- | --- |\n");
            Rows(text, "Dynamo:" + name, type, Activator.CreateInstance(type), Activator.CreateInstance(type), 0);
        }

        return text.ToString();
    }

    /// <summary>Keys whose values are parsed by their owner rather than the binder: what they accept, in words.</summary>
    private static readonly Dictionary<string, string> ValueTypes = new(StringComparer.Ordinal)
    {
        ["Dynamo:Router:Mode"] = "kv, round-robin, random or least-loaded",
    };

    private static void Rows(StringBuilder text, string path, Type type, object? defaults, object? again, int depth)
    {
        foreach (var property in StrictBinding.Bindable(type).Values.OrderBy(p => p.MetadataToken))
        {
            var key = $"{path}:{property.Name}";
            var propertyType = Nullable.GetUnderlyingType(property.PropertyType) ?? property.PropertyType;
            var value = defaults is null ? null : property.GetValue(defaults);
            var other = again is null ? null : property.GetValue(again);

            // A default that differs between two new instances is made per process (a random id): say so, not one of them.
            var shown = Default(value, property.Name);
            if (shown != Default(other, property.Name))
            {
                shown = "generated per process";
            }

            var description = Describe(property);
            if (StrictBinding.IsScalar(propertyType))
            {
                var words = ValueTypes.GetValueOrDefault(key) ?? StrictBinding.Describe(propertyType);
                if (ValueTypes.ContainsKey(key) && value is not null)
                {
                    shown = "`" + Kebab(value.ToString()!) + "`";
                }

                Row(text, key, words, shown, description);
            }
            else if (StrictBinding.ElementType(propertyType) is { } element && !StrictBinding.IsScalar(element) && depth < 4)
            {
                Row(text, key, "a list of sections", shown, description);
                Rows(text, key + ":N", element, null, null, depth + 1);
            }
            else if (StrictBinding.ElementType(propertyType) is { } scalarElement)
            {
                Row(text, key, $"a list (each {StrictBinding.Describe(scalarElement)})", shown, description);
            }
            else if (depth < 4)
            {
                Row(text, key, "a section", "", description);
                Rows(text, key, propertyType, value ?? SafeNew(propertyType), other ?? SafeNew(propertyType), depth + 1);
            }
        }
    }

    /// <summary><c>LeastLoaded</c> as it is written in configuration: <c>least-loaded</c>.</summary>
    private static string Kebab(string name) => KebabBoundary().Replace(name, "$1-$2").ToLowerInvariant();

    private static void Row(StringBuilder text, string key, string type, string value, string description) =>
        text.Append("| `").Append(key).Append("` | ").Append(Cell(type)).Append(" | ").Append(value).Append(" | ").Append(Cell(description)).Append(" |\n");

    private static object? SafeNew(Type type)
    {
        try
        {
            return type.GetConstructor(Type.EmptyTypes) is null ? null : Activator.CreateInstance(type);
        }
        catch (TargetInvocationException)
        {
            return null;
        }
    }

    /// <summary>A default as it would be written in YAML; secrets are never printed.</summary>
    private static string Default(object? value, string name)
    {
        if (value is null)
        {
            return "none";
        }

        if (value is byte[] || Secret().IsMatch(name))
        {
            return value is string { Length: 0 } ? "none" : "(set)";
        }

        var written = value switch
        {
            string s => s.Length == 0 ? "\"\"" : s,
            bool b => b ? "true" : "false",
            TimeSpan t => t.ToString("c", CultureInfo.InvariantCulture),
            IFormattable f => f.ToString(null, CultureInfo.InvariantCulture),
            IEnumerable list => "[" + string.Join(", ", list.Cast<object?>().Select(i => i is IFormattable f ? f.ToString(null, CultureInfo.InvariantCulture) : i?.ToString())) + "]",
            _ => null,
        };
        return written is null ? "" : "`" + written.Replace("|", "\\|", StringComparison.Ordinal) + "`";
    }

    private static string Cell(string text) => text.Replace("|", "\\|", StringComparison.Ordinal).Replace("\n", " ", StringComparison.Ordinal);

    /// <summary>The property's XML summary as one line of Markdown; empty when the documentation file is not beside the assembly.</summary>
    private static string Describe(PropertyInfo property)
    {
        var type = property.DeclaringType!;
        var member = $"P:{type.FullName!.Replace('+', '.')}.{property.Name}";
        var summary = Documentation(type.Assembly).GetValueOrDefault(member);
        if (summary is null)
        {
            return "";
        }

        var line = new StringBuilder();
        foreach (var node in summary.Nodes())
        {
            line.Append(node switch
            {
                XText t => t.Value,
                XElement { Name.LocalName: "c" or "paramref" or "typeparamref" } e => "`" + (e.Attribute("name")?.Value ?? e.Value) + "`",
                XElement { Name.LocalName: "see" } e => "`" + Short(e.Attribute("cref")?.Value ?? e.Attribute("langword")?.Value ?? e.Attribute("href")?.Value ?? e.Value) + "`",
                XElement e => e.Value,
                _ => "",
            });
        }

        return Spaces().Replace(line.ToString(), " ").Trim();
    }

    private static string Short(string cref)
    {
        var name = cref.Length > 2 && cref[1] == ':' ? cref[2..] : cref;
        var paren = name.IndexOf('(', StringComparison.Ordinal);
        name = paren > 0 ? name[..paren] : name;
        return name.Split('.')[^1];
    }

    private static readonly Dictionary<Assembly, Dictionary<string, XElement>> Loaded = [];

    private static Dictionary<string, XElement> Documentation(Assembly assembly)
    {
        lock (Loaded)
        {
            if (Loaded.TryGetValue(assembly, out var members))
            {
                return members;
            }

            members = [];
            var file = Path.ChangeExtension(assembly.Location, ".xml");
            if (File.Exists(file))
            {
                foreach (var member in XDocument.Load(file).Descendants("member"))
                {
                    if (member.Attribute("name")?.Value is { } name && member.Element("summary") is { } summary)
                    {
                        members[name] = summary;
                    }
                }
            }

            Loaded[assembly] = members;
            return members;
        }
    }

    [GeneratedRegex(@"\s+")]
    private static partial Regex Spaces();

    [GeneratedRegex("^(Secret|Password|Token|Key|AuthenticationKey)$")]
    private static partial Regex Secret();

    [GeneratedRegex("([a-z])([A-Z])")]
    private static partial Regex KebabBoundary();
}
