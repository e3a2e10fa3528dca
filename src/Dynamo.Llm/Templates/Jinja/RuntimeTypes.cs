namespace Dynamo.Llm.Templates.Jinja;

/// <summary>
/// Jinja's undefined value: a missing variable, key or attribute. Renders as empty, is false, iterates as empty, and
/// fails when used in arithmetic or when its attributes are read.
/// </summary>
internal sealed class Undefined
{
    public static readonly Undefined Anonymous = new(null);

    public Undefined(string? name)
    {
        Name = name;
    }

    public string? Name { get; }

    public JinjaError Error() => new(Name is null ? "value is undefined" : $"'{Name}' is undefined");
}

/// <summary>The mutable object made by <c>namespace(...)</c>, whose attributes <c>{% set ns.x = ... %}</c> assigns.</summary>
internal sealed class Namespace
{
    public Dictionary<string, object?> Attributes { get; } = new(StringComparer.Ordinal);
}

/// <summary>The <c>loop</c> variable inside a for loop.</summary>
internal sealed class LoopContext
{
    public LoopContext(List<object?> items)
    {
        Items = items;
    }

    public List<object?> Items { get; }

    public int Index0 { get; set; }

    public object? GetAttribute(string name) => name switch
    {
        "index" => (long)(Index0 + 1),
        "index0" => (long)Index0,
        "revindex" => (long)(Items.Count - Index0),
        "revindex0" => (long)(Items.Count - Index0 - 1),
        "first" => Index0 == 0,
        "last" => Index0 == Items.Count - 1,
        "length" => (long)Items.Count,
        "previtem" => Index0 > 0 ? Items[Index0 - 1] : new Undefined("loop.previtem"),
        "nextitem" => Index0 + 1 < Items.Count ? Items[Index0 + 1] : new Undefined("loop.nextitem"),
        "depth" => 1L,
        "depth0" => 0L,
        _ => new Undefined("loop." + name),
    };
}

/// <summary>Positional and keyword arguments of a call, filter or test.</summary>
internal readonly struct Arguments
{
    public static readonly Arguments None = new([], null);

    public Arguments(object?[] positional, Dictionary<string, object?>? named)
    {
        Positional = positional;
        Named = named;
    }

    public object?[] Positional { get; }

    public Dictionary<string, object?>? Named { get; }

    public int Count => Positional.Length + (Named?.Count ?? 0);

    /// <summary>The argument at <paramref name="index"/> or named <paramref name="name"/>, else the default.</summary>
    public object? Get(int index, string name, object? defaultValue = null)
    {
        if (index < Positional.Length)
        {
            return Positional[index];
        }

        return Named is not null && Named.TryGetValue(name, out var value) ? value : defaultValue;
    }

    public bool Has(int index, string name) => index < Positional.Length || (Named?.ContainsKey(name) ?? false);

    public void Expect(string function, int maxPositional, params string[] names)
    {
        if (Positional.Length > maxPositional)
        {
            throw new JinjaError($"{function}() takes at most {maxPositional} positional argument(s), {Positional.Length} given");
        }

        if (Named is null)
        {
            return;
        }

        foreach (var key in Named.Keys)
        {
            if (Array.IndexOf(names, key) < 0)
            {
                throw new JinjaError($"{function}() got an unexpected keyword argument '{key}'");
            }
        }
    }
}

/// <summary>Something a template can call: a global function, a macro, or a bound method.</summary>
internal abstract class Callable
{
    public abstract string Name { get; }

    public abstract object? Call(RenderContext context, Arguments arguments);
}

internal sealed class BuiltinFunction(string name, Func<RenderContext, Arguments, object?> body) : Callable
{
    public override string Name => name;

    public override object? Call(RenderContext context, Arguments arguments) => body(context, arguments);
}

/// <summary>A method read off a value without calling it (<c>x.strip</c>); calling it runs the method.</summary>
internal sealed class BoundMethod(object? target, string name) : Callable
{
    public override string Name => name;

    public override object? Call(RenderContext context, Arguments arguments) =>
        Methods.TryInvoke(target, name, arguments, out var result) ? result : throw new JinjaError($"'{name}' is not callable");
}
