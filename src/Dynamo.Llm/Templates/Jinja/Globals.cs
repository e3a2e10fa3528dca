namespace Dynamo.Llm.Templates.Jinja;

/// <summary>Functions every template can call: <c>range</c>, <c>namespace</c>, <c>dict</c>, <c>raise_exception</c>.</summary>
internal static class Globals
{
    private static readonly Dictionary<string, Callable> s_functions = new Callable[]
    {
        new BuiltinFunction("range", static (_, args) => Range(args)),
        new BuiltinFunction("namespace", static (_, args) => MakeNamespace(args)),
        new BuiltinFunction("dict", static (_, args) => MakeDict(args)),
        new BuiltinFunction("raise_exception", static (_, args) =>
            throw new JinjaError(Values.ToStr(args.Get(0, "message", "template raised an exception")), raisedByTemplate: true)),
    }.ToDictionary(f => f.Name, StringComparer.Ordinal);

    public static bool TryGet(string name, out object? value)
    {
        var found = s_functions.TryGetValue(name, out var function);
        value = function;
        return found;
    }

    private static List<object?> Range(Arguments args)
    {
        if (args.Named is { Count: > 0 } || args.Positional.Length is < 1 or > 3)
        {
            throw new JinjaError("range() takes 1 to 3 positional arguments");
        }

        var p = args.Positional;
        var (start, stop, step) = p.Length switch
        {
            1 => (0L, Values.ToLong(p[0]), 1L),
            2 => (Values.ToLong(p[0]), Values.ToLong(p[1]), 1L),
            _ => (Values.ToLong(p[0]), Values.ToLong(p[1]), Values.ToLong(p[2])),
        };
        if (step == 0)
        {
            throw new JinjaError("range() arg 3 must not be zero");
        }

        var count = step > 0 ? Math.Max(0, (stop - start + step - 1) / step) : Math.Max(0, (start - stop - step - 1) / -step);
        if (count > 1_000_000)
        {
            throw new JinjaError("range() is too large");
        }

        var result = new List<object?>((int)count);
        for (var i = 0L; i < count; i++)
        {
            result.Add(start + (i * step));
        }

        return result;
    }

    private static Namespace MakeNamespace(Arguments args)
    {
        var ns = new Namespace();
        foreach (var initial in args.Positional)
        {
            if (initial is not Dictionary<string, object?> dict)
            {
                throw new JinjaError("namespace() positional argument must be a dict");
            }

            foreach (var (key, value) in dict)
            {
                ns.Attributes[key] = value;
            }
        }

        if (args.Named is not null)
        {
            foreach (var (key, value) in args.Named)
            {
                ns.Attributes[key] = value;
            }
        }

        return ns;
    }

    private static Dictionary<string, object?> MakeDict(Arguments args)
    {
        var dict = new Dictionary<string, object?>(StringComparer.Ordinal);
        foreach (var initial in args.Positional)
        {
            if (initial is not Dictionary<string, object?> source)
            {
                throw new JinjaError("dict() positional argument must be a dict");
            }

            foreach (var (key, value) in source)
            {
                dict[key] = value;
            }
        }

        if (args.Named is not null)
        {
            foreach (var (key, value) in args.Named)
            {
                dict[key] = value;
            }
        }

        return dict;
    }
}
