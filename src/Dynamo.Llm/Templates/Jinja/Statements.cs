using System.Text;

namespace Dynamo.Llm.Templates.Jinja;

internal enum Flow
{
    Normal,
    Break,
    Continue,
}

/// <summary>A statement node. Errors from running it carry its position unless an inner node stamped one.</summary>
internal abstract class Stmt(int position)
{
    public int Position { get; } = position;

    public Flow Execute(RenderContext context)
    {
        try
        {
            return Exec(context);
        }
        catch (JinjaError error)
        {
            throw error.At(Position);
        }
    }

    public static Flow ExecuteAll(List<Stmt> body, RenderContext context)
    {
        foreach (var statement in body)
        {
            var flow = statement.Execute(context);
            if (flow != Flow.Normal)
            {
                return flow;
            }
        }

        return Flow.Normal;
    }

    protected abstract Flow Exec(RenderContext context);
}

internal sealed class TextStmt(int position, string text) : Stmt(position)
{
    protected override Flow Exec(RenderContext context)
    {
        context.Output.Append(text);
        return Flow.Normal;
    }
}

internal sealed class OutputStmt(int position, Expr expression) : Stmt(position)
{
    protected override Flow Exec(RenderContext context)
    {
        var value = expression.Evaluate(context);
        if (value is string s)
        {
            context.Output.Append(s);
        }
        else
        {
            context.Output.Append(Values.ToStr(value));
        }

        return Flow.Normal;
    }
}

/// <summary>A list of statements run in the current scope (<c>{% generation %}</c> bodies, the template itself).</summary>
internal sealed class BlockStmt(int position, List<Stmt> body) : Stmt(position)
{
    protected override Flow Exec(RenderContext context) => ExecuteAll(body, context);
}

internal sealed class IfStmt(int position, List<(Expr Condition, List<Stmt> Body)> branches, List<Stmt>? otherwise) : Stmt(position)
{
    protected override Flow Exec(RenderContext context)
    {
        foreach (var (condition, body) in branches)
        {
            if (Values.IsTrue(condition.Evaluate(context)))
            {
                return ExecuteAll(body, context);
            }
        }

        return otherwise is null ? Flow.Normal : ExecuteAll(otherwise, context);
    }
}

internal sealed class ForStmt(int position, List<string> targets, Expr iterable, Expr? filter, List<Stmt> body, List<Stmt>? otherwise) : Stmt(position)
{
    protected override Flow Exec(RenderContext context)
    {
        var items = Values.Iterate(iterable.Evaluate(context));
        var outer = context.Frame;
        var frame = new Frame(outer);
        context.Frame = frame;
        try
        {
            if (filter is not null)
            {
                // "for x in xs if cond": filtered before the loop, so loop.length and loop.last see the result.
                var kept = new List<object?>();
                foreach (var item in items)
                {
                    frame.Clear();
                    Bind(frame, item);
                    if (Values.IsTrue(filter.Evaluate(context)))
                    {
                        kept.Add(item);
                    }
                }

                items = kept;
            }

            if (items.Count == 0)
            {
                context.Frame = outer;
                return otherwise is null ? Flow.Normal : ExecuteAll(otherwise, context);
            }

            var loop = new LoopContext(items);
            for (var i = 0; i < items.Count; i++)
            {
                frame.Clear();
                loop.Index0 = i;
                frame.Set("loop", loop);
                Bind(frame, items[i]);
                if (ExecuteAll(body, context) == Flow.Break)
                {
                    break;
                }
            }

            return Flow.Normal;
        }
        finally
        {
            context.Frame = outer;
        }
    }

    private void Bind(Frame frame, object? item) => Assignment.Bind(frame, targets, item);
}

internal static class Assignment
{
    /// <summary>Binds one name, or unpacks a list into several (<c>for k, v in d.items()</c>).</summary>
    public static void Bind(Frame frame, List<string> targets, object? value)
    {
        if (targets.Count == 1)
        {
            frame.Set(targets[0], value);
            return;
        }

        var items = value is List<object?> list ? list : Values.Iterate(value);
        if (items.Count != targets.Count)
        {
            throw new JinjaError($"cannot unpack {items.Count} value(s) into {targets.Count} names");
        }

        for (var i = 0; i < targets.Count; i++)
        {
            frame.Set(targets[i], items[i]);
        }
    }
}

/// <summary><c>{% set a = ... %}</c>, <c>{% set a, b = ... %}</c>, or <c>{% set ns.attr = ... %}</c>.</summary>
internal sealed class SetStmt(int position, List<string> targets, Expr? namespaceTarget, string? attribute, Expr value) : Stmt(position)
{
    protected override Flow Exec(RenderContext context)
    {
        var result = value.Evaluate(context);
        if (namespaceTarget is null)
        {
            Assignment.Bind(context.Frame, targets, result);
            return Flow.Normal;
        }

        if (namespaceTarget.Evaluate(context) is not Namespace ns)
        {
            throw new JinjaError("cannot assign attribute on non-namespace object");
        }

        ns.Attributes[attribute!] = result;
        return Flow.Normal;
    }
}

/// <summary><c>{% set name %}...{% endset %}</c>: captures the body's output.</summary>
internal sealed class SetBlockStmt(int position, string name, List<Stmt> body) : Stmt(position)
{
    protected override Flow Exec(RenderContext context)
    {
        context.Frame.Set(name, Capture.Render(body, context, context.Frame));
        return Flow.Normal;
    }
}

/// <summary><c>{% filter name(args) %}...{% endfilter %}</c>.</summary>
internal sealed class FilterBlockStmt(int position, string filter, ArgumentList arguments, List<Stmt> body) : Stmt(position)
{
    protected override Flow Exec(RenderContext context)
    {
        var text = Capture.Render(body, context, context.Frame);
        context.Output.Append(Values.ToStr(Filters.Apply(context, filter, text, arguments.Evaluate(context))));
        return Flow.Normal;
    }
}

internal sealed class LoopControlStmt(int position, Flow flow) : Stmt(position)
{
    protected override Flow Exec(RenderContext context) => flow;
}

internal sealed class MacroStmt(int position, string name, List<(string Name, Expr? Default)> parameters, List<Stmt> body) : Stmt(position)
{
    protected override Flow Exec(RenderContext context)
    {
        context.Frame.Set(name, new Macro(name, parameters, body, context.Frame));
        return Flow.Normal;
    }
}

internal sealed class Macro(string name, List<(string Name, Expr? Default)> parameters, List<Stmt> body, Frame closure) : Callable
{
    public override string Name => name;

    public override object? Call(RenderContext context, Arguments arguments)
    {
        if (arguments.Positional.Length > parameters.Count)
        {
            throw new JinjaError($"macro '{name}' takes {parameters.Count} argument(s), {arguments.Positional.Length} given");
        }

        if (context.CallDepth >= RenderContext.MaxCallDepth)
        {
            throw new JinjaError($"macro calls nested deeper than {RenderContext.MaxCallDepth} (recursion?)");
        }

        var frame = new Frame(closure);
        var outer = context.Frame;
        context.Frame = frame;
        context.CallDepth++;
        try
        {
            for (var i = 0; i < parameters.Count; i++)
            {
                var (parameter, defaultValue) = parameters[i];
                object? value;
                if (i < arguments.Positional.Length)
                {
                    value = arguments.Positional[i];
                }
                else if (arguments.Named is not null && arguments.Named.TryGetValue(parameter, out var named))
                {
                    value = named;
                }
                else
                {
                    value = defaultValue is null ? new Undefined(parameter) : defaultValue.Evaluate(context);
                }

                frame.Set(parameter, value);
            }

            if (arguments.Named is not null)
            {
                foreach (var key in arguments.Named.Keys)
                {
                    if (!parameters.Exists(p => p.Name == key))
                    {
                        throw new JinjaError($"macro '{name}' has no parameter named '{key}'");
                    }
                }
            }

            return Capture.Render(body, context, frame);
        }
        finally
        {
            context.CallDepth--;
            context.Frame = outer;
        }
    }
}

internal static class Capture
{
    /// <summary>Runs statements into a separate buffer and returns what they wrote.</summary>
    public static string Render(List<Stmt> body, RenderContext context, Frame frame)
    {
        var output = context.Output;
        var outerFrame = context.Frame;
        context.Output = new StringBuilder();
        context.Frame = frame;
        try
        {
            Stmt.ExecuteAll(body, context);
            return context.Output.ToString();
        }
        finally
        {
            context.Output = output;
            context.Frame = outerFrame;
        }
    }
}
