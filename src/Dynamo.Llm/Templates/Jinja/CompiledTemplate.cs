namespace Dynamo.Llm.Templates.Jinja;

/// <summary>A parsed template: parse once, render many times (the tree is immutable and shared across threads).</summary>
internal sealed class CompiledTemplate
{
    private readonly SourceText _source;
    private readonly List<Stmt> _body;

    private CompiledTemplate(SourceText source, List<Stmt> body)
    {
        _source = source;
        _body = body;
    }

    /// <exception cref="TemplateException">A syntax error, with its line and column.</exception>
    public static CompiledTemplate Compile(string template)
    {
        var source = new SourceText(Lexer.Normalize(template));
        return new CompiledTemplate(source, Parser.Parse(source));
    }

    /// <summary>Renders with the given top-level variables (already interpreter values, see <see cref="Values.FromClr"/>).</summary>
    /// <exception cref="TemplateRaisedException">The template called <c>raise_exception</c>.</exception>
    /// <exception cref="TemplateException">A runtime error, with its line and column.</exception>
    public string Render(IReadOnlyDictionary<string, object?> variables, int capacityHint = 256)
    {
        var globals = new Frame(null);
        foreach (var (name, value) in variables)
        {
            globals.Set(name, value);
        }

        var context = new RenderContext(globals);
        context.Output.EnsureCapacity(capacityHint);
        try
        {
            Stmt.ExecuteAll(_body, context);
        }
        catch (JinjaError error)
        {
            var (line, column) = error.Position >= 0 ? _source.Locate(error.Position) : (0, 0);
            if (error.RaisedByTemplate)
            {
                throw new TemplateRaisedException(error.Message, error.Position >= 0 ? line : null, error.Position >= 0 ? column : null);
            }

            throw error.Position >= 0
                ? new TemplateException(error.Message, line, column, error)
                : new TemplateException(error.Message, innerException: error);
        }
        catch (OverflowException ex)
        {
            throw new TemplateException("integer overflow in template arithmetic", innerException: ex);
        }

        return context.Output.ToString();
    }
}
