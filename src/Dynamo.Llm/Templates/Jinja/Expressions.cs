using System.Text;

namespace Dynamo.Llm.Templates.Jinja;

/// <summary>An expression node. Errors from evaluating it carry its position.</summary>
internal abstract class Expr(int position)
{
    public int Position { get; } = position;

    public object? Evaluate(RenderContext context)
    {
        try
        {
            return Eval(context);
        }
        catch (JinjaError error)
        {
            throw error.At(Position);
        }
    }

    protected abstract object? Eval(RenderContext context);
}

internal sealed class LiteralExpr(int position, object? value) : Expr(position)
{
    public object? Value { get; } = value;

    protected override object? Eval(RenderContext context) => Value;
}

internal sealed class NameExpr(int position, string name) : Expr(position)
{
    public string Name { get; } = name;

    protected override object? Eval(RenderContext context) => context.Lookup(Name);
}

/// <summary>A list or tuple literal; both evaluate to a new list.</summary>
internal sealed class ListExpr(int position, List<Expr> items) : Expr(position)
{
    public List<Expr> Items { get; } = items;

    protected override object? Eval(RenderContext context)
    {
        var list = new List<object?>(Items.Count);
        foreach (var item in Items)
        {
            list.Add(item.Evaluate(context));
        }

        return list;
    }
}

internal sealed class DictExpr(int position, List<(Expr Key, Expr Value)> entries) : Expr(position)
{
    protected override object? Eval(RenderContext context)
    {
        var dict = new Dictionary<string, object?>(entries.Count, StringComparer.Ordinal);
        foreach (var (keyExpr, valueExpr) in entries)
        {
            var key = keyExpr.Evaluate(context) as string
                ?? throw new JinjaError("dict keys must be strings").At(keyExpr.Position);
            dict[key] = valueExpr.Evaluate(context);
        }

        return dict;
    }
}

internal sealed class GetAttrExpr(int position, Expr target, string name) : Expr(position)
{
    public Expr Target { get; } = target;

    public string Name { get; } = name;

    protected override object? Eval(RenderContext context) => Values.GetAttribute(Target.Evaluate(context), Name);
}

internal sealed class GetItemExpr(int position, Expr target, Expr key) : Expr(position)
{
    protected override object? Eval(RenderContext context) => Values.GetItem(target.Evaluate(context), key.Evaluate(context));
}

internal sealed class SliceExpr(int position, Expr target, Expr? start, Expr? stop, Expr? step) : Expr(position)
{
    protected override object? Eval(RenderContext context) =>
        Values.Slice(target.Evaluate(context), start?.Evaluate(context), stop?.Evaluate(context), step?.Evaluate(context));
}

/// <summary>Arguments as written at a call site; evaluated per call.</summary>
internal sealed class ArgumentList(List<Expr> positional, List<(string Name, Expr Value)> named)
{
    public static readonly ArgumentList Empty = new([], []);

    public Arguments Evaluate(RenderContext context)
    {
        if (positional.Count == 0 && named.Count == 0)
        {
            return Arguments.None;
        }

        var values = new object?[positional.Count];
        for (var i = 0; i < values.Length; i++)
        {
            values[i] = positional[i].Evaluate(context);
        }

        Dictionary<string, object?>? namedValues = null;
        if (named.Count > 0)
        {
            namedValues = new Dictionary<string, object?>(named.Count, StringComparer.Ordinal);
            foreach (var (name, value) in named)
            {
                namedValues[name] = value.Evaluate(context);
            }
        }

        return new Arguments(values, namedValues);
    }
}

internal sealed class CallExpr(int position, Expr callee, ArgumentList arguments) : Expr(position)
{
    protected override object? Eval(RenderContext context)
    {
        object? function;
        if (callee is GetAttrExpr member)
        {
            // Method calls go straight to the method, without a bound-method object.
            var target = member.Target.Evaluate(context);
            if (Methods.IsMethod(target, member.Name))
            {
                Methods.TryInvoke(target, member.Name, arguments.Evaluate(context), out var result);
                return result;
            }

            if (target is LoopContext loop && member.Name == "cycle")
            {
                var choices = arguments.Evaluate(context).Positional;
                return choices.Length == 0 ? throw new JinjaError("loop.cycle() needs at least one value") : choices[loop.Index0 % choices.Length];
            }

            function = Values.GetAttribute(target, member.Name);
        }
        else
        {
            function = callee.Evaluate(context);
        }

        return function switch
        {
            Callable callable => callable.Call(context, arguments.Evaluate(context)),
            Undefined undefined => throw undefined.Error(),
            _ => throw new JinjaError($"'{Values.TypeName(function)}' object is not callable"),
        };
    }
}

internal sealed class FilterExpr(int position, Expr value, string name, ArgumentList arguments) : Expr(position)
{
    protected override object? Eval(RenderContext context) =>
        Filters.Apply(context, name, value.Evaluate(context), arguments.Evaluate(context));
}

internal sealed class TestExpr(int position, Expr value, string name, ArgumentList arguments, bool negated) : Expr(position)
{
    protected override object? Eval(RenderContext context) =>
        TestFunctions.Run(name, value.Evaluate(context), arguments.Evaluate(context)) != negated;
}

internal sealed class NotExpr(int position, Expr operand) : Expr(position)
{
    protected override object? Eval(RenderContext context) => !Values.IsTrue(operand.Evaluate(context));
}

internal sealed class NegateExpr(int position, Expr operand, bool minus) : Expr(position)
{
    protected override object? Eval(RenderContext context)
    {
        var value = operand.Evaluate(context);
        return minus ? Values.Negate(value) : Values.IsNumber(value) ? value : throw new JinjaError($"bad operand type for unary +: '{Values.TypeName(value)}'");
    }
}

/// <summary><c>+ - * / // % **</c>.</summary>
internal sealed class BinaryExpr(int position, string op, Expr left, Expr right) : Expr(position)
{
    protected override object? Eval(RenderContext context)
    {
        var a = left.Evaluate(context);
        var b = right.Evaluate(context);
        return op == "+" ? Values.Add(a, b) : Values.Arithmetic(op, a, b);
    }
}

/// <summary><c>a ~ b ~ c</c>: string conversion and concatenation (undefined is empty).</summary>
internal sealed class ConcatExpr(int position, List<Expr> parts) : Expr(position)
{
    protected override object? Eval(RenderContext context)
    {
        var sb = new StringBuilder();
        foreach (var part in parts)
        {
            sb.Append(Values.ToStr(part.Evaluate(context)));
        }

        return sb.ToString();
    }
}

/// <summary><c>and</c>/<c>or</c>, returning an operand as Python does.</summary>
internal sealed class LogicalExpr(int position, bool isAnd, Expr left, Expr right) : Expr(position)
{
    protected override object? Eval(RenderContext context)
    {
        var a = left.Evaluate(context);
        return Values.IsTrue(a) == isAnd ? right.Evaluate(context) : a;
    }
}

/// <summary>A comparison chain: <c>a &lt; b &lt;= c</c>, <c>x in y</c>, <c>x not in y</c>.</summary>
internal sealed class CompareExpr(int position, Expr first, List<(string Op, Expr Operand)> rest) : Expr(position)
{
    protected override object? Eval(RenderContext context)
    {
        var left = first.Evaluate(context);
        foreach (var (op, operandExpr) in rest)
        {
            var right = operandExpr.Evaluate(context);
            var holds = op switch
            {
                "==" => Values.AreEqual(left, right),
                "!=" => !Values.AreEqual(left, right),
                "<" => Values.Compare(left, right) < 0,
                "<=" => Values.Compare(left, right) <= 0,
                ">" => Values.Compare(left, right) > 0,
                ">=" => Values.Compare(left, right) >= 0,
                "in" => Values.Contains(right, left),
                "notin" => !Values.Contains(right, left),
                _ => throw new JinjaError($"unknown comparison '{op}'"),
            };
            if (!holds)
            {
                return false;
            }

            left = right;
        }

        return true;
    }
}

/// <summary><c>a if cond else b</c>; without <c>else</c> a false condition gives undefined.</summary>
internal sealed class ConditionalExpr(int position, Expr condition, Expr then, Expr? otherwise) : Expr(position)
{
    protected override object? Eval(RenderContext context) =>
        Values.IsTrue(condition.Evaluate(context)) ? then.Evaluate(context) : otherwise is null ? Undefined.Anonymous : otherwise.Evaluate(context);
}
