using System.Text;

namespace Dynamo.Llm.Templates.Jinja;

/// <summary>One variable scope: the template's top level, a for-loop iteration, or a macro call.</summary>
internal sealed class Frame(Frame? parent)
{
    private Dictionary<string, object?>? _variables;

    public Frame? Parent { get; } = parent;

    public bool TryGet(string name, out object? value)
    {
        for (var frame = this; frame is not null; frame = frame.Parent)
        {
            if (frame._variables is not null && frame._variables.TryGetValue(name, out value))
            {
                return true;
            }
        }

        value = null;
        return false;
    }

    public void Set(string name, object? value) => (_variables ??= new(StringComparer.Ordinal))[name] = value;

    public void Clear() => _variables?.Clear();
}

/// <summary>State of one render: the output being written and the current scope.</summary>
internal sealed class RenderContext(Frame globals)
{
    /// <summary>Deep enough for any real template; stops a recursive macro before it takes the process down.</summary>
    public const int MaxCallDepth = 64;

    public StringBuilder Output { get; set; } = new();

    public Frame Frame { get; set; } = new(globals);

    public int CallDepth { get; set; }

    public object? Lookup(string name)
    {
        if (Frame.TryGet(name, out var value))
        {
            return value;
        }

        return Globals.TryGet(name, out var builtin) ? builtin : new Undefined(name);
    }
}
