namespace Dynamo.Llm.Templates.Jinja;

/// <summary>Jinja tests, used as <c>x is name</c> / <c>x is not name(arg)</c> and by <c>select</c>/<c>selectattr</c>.</summary>
internal static class TestFunctions
{
    private delegate bool Test(object? value, Arguments args);

    private static readonly Dictionary<string, Test> s_tests = new(StringComparer.Ordinal)
    {
        ["defined"] = static (v, _) => v is not Undefined,
        ["undefined"] = static (v, _) => v is Undefined,
        ["none"] = static (v, _) => v is null,
        ["string"] = static (v, _) => v is string,
        ["number"] = static (v, _) => v is long or double or bool,
        ["integer"] = static (v, _) => v is long,
        ["float"] = static (v, _) => v is double,
        ["boolean"] = static (v, _) => v is bool,
        ["true"] = static (v, _) => v is true,
        ["false"] = static (v, _) => v is false,
        ["mapping"] = static (v, _) => v is Dictionary<string, object?>,
        ["sequence"] = static (v, _) => v is string or List<object?> or Dictionary<string, object?>,
        ["iterable"] = static (v, _) => v is string or List<object?> or Dictionary<string, object?>,
        ["callable"] = static (v, _) => v is Callable,
        ["even"] = static (v, _) => Values.ToLong(v) % 2 == 0,
        ["odd"] = static (v, _) => Values.ToLong(v) % 2 != 0,
        ["divisibleby"] = static (v, a) => Values.ToLong(a.Get(0, "num")) is var n && n != 0 && Values.ToLong(v) % n == 0,
        ["eq"] = static (v, a) => Values.AreEqual(v, a.Get(0, "other")),
        ["ne"] = static (v, a) => !Values.AreEqual(v, a.Get(0, "other")),
        ["lt"] = static (v, a) => Values.Compare(v, a.Get(0, "other")) < 0,
        ["le"] = static (v, a) => Values.Compare(v, a.Get(0, "other")) <= 0,
        ["gt"] = static (v, a) => Values.Compare(v, a.Get(0, "other")) > 0,
        ["ge"] = static (v, a) => Values.Compare(v, a.Get(0, "other")) >= 0,
        ["in"] = static (v, a) => Values.Contains(a.Get(0, "seq"), v),
        ["sameas"] = static (v, a) => a.Get(0, "other") is var o && (ReferenceEquals(v, o) || (v is bool or null && Values.AreEqual(v, o) && o is bool or null)),
        ["lower"] = static (v, _) => v is string s && s == s.ToLowerInvariant(),
        ["upper"] = static (v, _) => v is string s && s == s.ToUpperInvariant(),
    };

    static TestFunctions()
    {
        s_tests["equalto"] = s_tests["=="] = s_tests["eq"];
        s_tests["!="] = s_tests["ne"];
        s_tests["lessthan"] = s_tests["<"] = s_tests["lt"];
        s_tests["<="] = s_tests["le"];
        s_tests["greaterthan"] = s_tests[">"] = s_tests["gt"];
        s_tests[">="] = s_tests["ge"];
    }

    public static bool Exists(string name) => s_tests.ContainsKey(name);

    public static bool Run(string name, object? value, Arguments args)
    {
        if (!s_tests.TryGetValue(name, out var test))
        {
            throw new JinjaError($"no test named '{name}'");
        }

        return test(value, args);
    }
}
