using System.Globalization;

namespace Dynamo.Llm.Templates.Jinja;

/// <summary>
/// Recursive-descent parser for the Jinja subset chat templates use, with Jinja's operator precedence (lowest first):
/// conditional expression, <c>or</c>, <c>and</c>, <c>not</c>, comparisons and <c>in</c>, <c>+ -</c>, <c>~</c>,
/// <c>* / // %</c>, <c>**</c>, unary <c>-</c>, then postfix (attribute, subscript, call) with filters and tests.
/// </summary>
internal sealed class Parser
{
    private static readonly HashSet<string> s_unsupportedTags =
        ["include", "import", "from", "extends", "block", "call", "with", "autoescape", "do"];

    private readonly List<Token> _tokens;
    private readonly SourceText _source;
    private int _index;

    private Parser(List<Token> tokens, SourceText source)
    {
        _tokens = tokens;
        _source = source;
    }

    public static List<Stmt> Parse(SourceText source)
    {
        var parser = new Parser(Lexer.Tokenize(source), source);
        var body = parser.ParseBody(null);
        return body;
    }

    private Token Current => _tokens[_index];

    private Token Peek(int offset = 1) => _tokens[Math.Min(_index + offset, _tokens.Count - 1)];

    // ---- statements ----

    /// <summary>Parses until end of template, or until a block tag whose name is in <paramref name="endTags"/>
    /// (left unconsumed: the tag's '{%' and name are the current and next tokens).</summary>
    private List<Stmt> ParseBody(string[]? endTags, Token? opening = null)
    {
        var body = new List<Stmt>();
        while (true)
        {
            var token = Current;
            switch (token.Kind)
            {
                case TokenKind.Eof:
                    if (endTags is not null)
                    {
                        throw _source.Error($"unexpected end of template: '{opening?.Value}' at this position is never closed with '{{% {endTags[^1]} %}}'", opening?.Position ?? token.Position);
                    }

                    return body;
                case TokenKind.Text:
                    _index++;
                    body.Add(new TextStmt(token.Position, token.Value));
                    break;
                case TokenKind.VariableBegin:
                    _index++;
                    var expression = ParseTuple(withCondition: true);
                    Expect(TokenKind.VariableEnd, "'}}'");
                    body.Add(new OutputStmt(token.Position, expression));
                    break;
                case TokenKind.BlockBegin:
                    var name = Peek();
                    if (name.Kind != TokenKind.Name)
                    {
                        throw _source.Error($"expected a tag name after '{{%', got {name}", name.Position);
                    }

                    if (endTags is not null && Array.IndexOf(endTags, name.Value) >= 0)
                    {
                        return body;
                    }

                    _index += 2;
                    body.Add(ParseStatement(name));
                    break;
                default:
                    throw _source.Error($"unexpected {token}", token.Position);
            }
        }
    }

    private Stmt ParseStatement(Token tag)
    {
        switch (tag.Value)
        {
            case "if":
                return ParseIf(tag);
            case "for":
                return ParseFor(tag);
            case "set":
                return ParseSet(tag);
            case "macro":
                return ParseMacro(tag);
            case "filter":
                return ParseFilterBlock(tag);
            case "break":
            case "continue":
                ExpectBlockEnd();
                return new LoopControlStmt(tag.Position, tag.Value == "break" ? Flow.Break : Flow.Continue);
            case "generation":
                // Hugging Face's assistant-mask marker: renders its body unchanged.
                ExpectBlockEnd();
                var body = ParseBody(["endgeneration"], tag);
                ConsumeEndTag("endgeneration");
                return new BlockStmt(tag.Position, body);
            default:
                if (s_unsupportedTags.Contains(tag.Value))
                {
                    throw _source.Error($"the '{tag.Value}' tag is not supported in chat templates", tag.Position);
                }

                throw _source.Error($"unknown tag '{tag.Value}'", tag.Position);
        }
    }

    private IfStmt ParseIf(Token tag)
    {
        var branches = new List<(Expr, List<Stmt>)>();
        List<Stmt>? otherwise = null;
        var condition = ParseTuple(withCondition: true);
        ExpectBlockEnd();
        while (true)
        {
            var body = ParseBody(["elif", "else", "endif"], tag);
            branches.Add((condition, body));
            var next = Peek().Value;
            _index += 2;
            if (next == "elif")
            {
                condition = ParseTuple(withCondition: true);
                ExpectBlockEnd();
                continue;
            }

            if (next == "else")
            {
                ExpectBlockEnd();
                otherwise = ParseBody(["endif"], tag);
                _index += 2;
            }

            ExpectBlockEnd();
            return new IfStmt(tag.Position, branches, otherwise);
        }
    }

    private ForStmt ParseFor(Token tag)
    {
        var targets = ParseTargets();
        if (!Current.IsName("in"))
        {
            throw _source.Error($"expected 'in' in for loop, got {Current}", Current.Position);
        }

        _index++;
        var iterable = ParseTuple(withCondition: false);
        Expr? filter = null;
        if (Current.IsName("if"))
        {
            _index++;
            filter = ParseExpression(withCondition: true);
        }

        if (Current.IsName("recursive"))
        {
            throw _source.Error("recursive for loops are not supported", Current.Position);
        }

        ExpectBlockEnd();
        var body = ParseBody(["else", "endfor"], tag);
        List<Stmt>? otherwise = null;
        if (Peek().Value == "else")
        {
            _index += 2;
            ExpectBlockEnd();
            otherwise = ParseBody(["endfor"], tag);
        }

        ConsumeEndTag("endfor");
        return new ForStmt(tag.Position, targets, iterable, filter, body, otherwise);
    }

    private Stmt ParseSet(Token tag)
    {
        var first = ExpectName();
        if (Current.IsOperator("."))
        {
            _index++;
            var attribute = ExpectName();
            ExpectOperator("=");
            var value = ParseTuple(withCondition: true);
            ExpectBlockEnd();
            return new SetStmt(tag.Position, [], new NameExpr(first.Position, first.Value), attribute.Value, value);
        }

        var targets = new List<string> { first.Value };
        while (Current.IsOperator(","))
        {
            _index++;
            targets.Add(ExpectName().Value);
        }

        if (Current.Kind == TokenKind.BlockEnd && targets.Count == 1)
        {
            _index++;
            var body = ParseBody(["endset"], tag);
            ConsumeEndTag("endset");
            return new SetBlockStmt(tag.Position, first.Value, body);
        }

        ExpectOperator("=");
        var expression = ParseTuple(withCondition: true);
        ExpectBlockEnd();
        return new SetStmt(tag.Position, targets, null, null, expression);
    }

    private MacroStmt ParseMacro(Token tag)
    {
        var name = ExpectName();
        ExpectOperator("(");
        var parameters = new List<(string, Expr?)>();
        while (!Current.IsOperator(")"))
        {
            if (parameters.Count > 0)
            {
                ExpectOperator(",");
            }

            var parameter = ExpectName();
            Expr? defaultValue = null;
            if (Current.IsOperator("="))
            {
                _index++;
                defaultValue = ParseExpression(withCondition: true);
            }

            parameters.Add((parameter.Value, defaultValue));
        }

        _index++;
        ExpectBlockEnd();
        var body = ParseBody(["endmacro"], tag);
        ConsumeEndTag("endmacro");
        return new MacroStmt(tag.Position, name.Value, parameters, body);
    }

    private FilterBlockStmt ParseFilterBlock(Token tag)
    {
        var name = ExpectName();
        var arguments = Current.IsOperator("(") ? ParseArguments() : ArgumentList.Empty;
        CheckFilter(name);
        ExpectBlockEnd();
        var body = ParseBody(["endfilter"], tag);
        ConsumeEndTag("endfilter");
        return new FilterBlockStmt(tag.Position, name.Value, arguments, body);
    }

    private List<string> ParseTargets()
    {
        var parenthesized = Current.IsOperator("(");
        if (parenthesized)
        {
            _index++;
        }

        var targets = new List<string> { ExpectName().Value };
        while (Current.IsOperator(","))
        {
            _index++;
            targets.Add(ExpectName().Value);
        }

        if (parenthesized)
        {
            ExpectOperator(")");
        }

        return targets;
    }

    private void ConsumeEndTag(string name)
    {
        // ParseBody stopped at '{%' name.
        _index += 2;
        if (_tokens[_index - 1].Value != name)
        {
            throw _source.Error($"expected '{{% {name} %}}'", _tokens[_index - 1].Position);
        }

        ExpectBlockEnd();
    }

    // ---- expressions ----

    /// <summary>An expression, or a tuple when followed by commas (<c>{% set a, b = 1, 2 %}</c>).</summary>
    private Expr ParseTuple(bool withCondition)
    {
        var first = ParseExpression(withCondition);
        if (!Current.IsOperator(","))
        {
            return first;
        }

        var items = new List<Expr> { first };
        while (Current.IsOperator(","))
        {
            _index++;
            if (Current.Kind is TokenKind.BlockEnd or TokenKind.VariableEnd || Current.IsOperator(")"))
            {
                break;
            }

            items.Add(ParseExpression(withCondition));
        }

        return new ListExpr(first.Position, items);
    }

    private Expr ParseExpression(bool withCondition) => withCondition ? ParseConditional() : ParseOr();

    private Expr ParseConditional()
    {
        var expr = ParseOr();
        while (Current.IsName("if"))
        {
            var position = Current.Position;
            _index++;
            var condition = ParseOr();
            Expr? otherwise = null;
            if (Current.IsName("else"))
            {
                _index++;
                otherwise = ParseConditional();
            }

            expr = new ConditionalExpr(position, condition, expr, otherwise);
        }

        return expr;
    }

    private Expr ParseOr()
    {
        var left = ParseAnd();
        while (Current.IsName("or"))
        {
            var position = Current.Position;
            _index++;
            left = new LogicalExpr(position, isAnd: false, left, ParseAnd());
        }

        return left;
    }

    private Expr ParseAnd()
    {
        var left = ParseNot();
        while (Current.IsName("and"))
        {
            var position = Current.Position;
            _index++;
            left = new LogicalExpr(position, isAnd: true, left, ParseNot());
        }

        return left;
    }

    private Expr ParseNot()
    {
        if (Current.IsName("not"))
        {
            var position = Current.Position;
            _index++;
            return new NotExpr(position, ParseNot());
        }

        return ParseCompare();
    }

    private Expr ParseCompare()
    {
        var first = ParseMath1();
        List<(string, Expr)>? rest = null;
        while (true)
        {
            string op;
            if (Current.Kind == TokenKind.Operator && Current.Value is "==" or "!=" or "<" or ">" or "<=" or ">=")
            {
                op = Current.Value;
                _index++;
            }
            else if (Current.IsName("in"))
            {
                op = "in";
                _index++;
            }
            else if (Current.IsName("not") && Peek().IsName("in"))
            {
                op = "notin";
                _index += 2;
            }
            else
            {
                break;
            }

            (rest ??= []).Add((op, ParseMath1()));
        }

        return rest is null ? first : new CompareExpr(first.Position, first, rest);
    }

    private Expr ParseMath1()
    {
        var left = ParseConcat();
        while (Current.Kind == TokenKind.Operator && Current.Value is "+" or "-")
        {
            var op = Current;
            _index++;
            left = new BinaryExpr(op.Position, op.Value, left, ParseConcat());
        }

        return left;
    }

    private Expr ParseConcat()
    {
        var first = ParseMath2();
        if (!Current.IsOperator("~"))
        {
            return first;
        }

        var parts = new List<Expr> { first };
        while (Current.IsOperator("~"))
        {
            _index++;
            parts.Add(ParseMath2());
        }

        return new ConcatExpr(first.Position, parts);
    }

    private Expr ParseMath2()
    {
        var left = ParsePow();
        while (Current.Kind == TokenKind.Operator && Current.Value is "*" or "/" or "//" or "%")
        {
            var op = Current;
            _index++;
            left = new BinaryExpr(op.Position, op.Value, left, ParsePow());
        }

        return left;
    }

    private Expr ParsePow()
    {
        var left = ParseUnary(withFilter: true);
        while (Current.IsOperator("**"))
        {
            var op = Current;
            _index++;
            left = new BinaryExpr(op.Position, "**", left, ParseUnary(withFilter: true));
        }

        return left;
    }

    private Expr ParseUnary(bool withFilter)
    {
        Expr node;
        var token = Current;
        if (token.IsOperator("-") || token.IsOperator("+"))
        {
            _index++;
            node = new NegateExpr(token.Position, ParseUnary(withFilter: false), minus: token.Value == "-");
        }
        else
        {
            node = ParsePrimary();
        }

        node = ParsePostfix(node);
        return withFilter ? ParseFilterAndTest(node) : node;
    }

    private Expr ParsePrimary()
    {
        var token = Current;
        switch (token.Kind)
        {
            case TokenKind.Name:
                _index++;
                return token.Value switch
                {
                    "true" or "True" => new LiteralExpr(token.Position, true),
                    "false" or "False" => new LiteralExpr(token.Position, false),
                    "none" or "None" => new LiteralExpr(token.Position, null),
                    _ => new NameExpr(token.Position, token.Value),
                };
            case TokenKind.String:
                // Adjacent string literals concatenate, as in Python.
                var text = token.Value;
                _index++;
                while (Current.Kind == TokenKind.String)
                {
                    text += Current.Value;
                    _index++;
                }

                return new LiteralExpr(token.Position, text);
            case TokenKind.Integer:
                _index++;
                return long.TryParse(token.Value, NumberStyles.None, CultureInfo.InvariantCulture, out var l)
                    ? new LiteralExpr(token.Position, l)
                    : throw _source.Error($"integer literal '{token.Value}' is too large", token.Position);
            case TokenKind.Float:
                _index++;
                return new LiteralExpr(token.Position, double.Parse(token.Value, NumberStyles.Float, CultureInfo.InvariantCulture));
            case TokenKind.Operator when token.Value == "(":
                _index++;
                if (Current.IsOperator(")"))
                {
                    _index++;
                    return new ListExpr(token.Position, []);
                }

                var inner = ParseTuple(withCondition: true);
                ExpectOperator(")");
                return inner;
            case TokenKind.Operator when token.Value == "[":
                _index++;
                var items = new List<Expr>();
                while (!Current.IsOperator("]"))
                {
                    if (items.Count > 0)
                    {
                        ExpectOperator(",");
                        if (Current.IsOperator("]"))
                        {
                            break;
                        }
                    }

                    items.Add(ParseExpression(withCondition: true));
                }

                _index++;
                return new ListExpr(token.Position, items);
            case TokenKind.Operator when token.Value == "{":
                _index++;
                var entries = new List<(Expr, Expr)>();
                while (!Current.IsOperator("}"))
                {
                    if (entries.Count > 0)
                    {
                        ExpectOperator(",");
                        if (Current.IsOperator("}"))
                        {
                            break;
                        }
                    }

                    var key = ParseExpression(withCondition: true);
                    ExpectOperator(":");
                    entries.Add((key, ParseExpression(withCondition: true)));
                }

                _index++;
                return new DictExpr(token.Position, entries);
            default:
                throw _source.Error($"unexpected {token} in expression", token.Position);
        }
    }

    private Expr ParsePostfix(Expr node)
    {
        while (true)
        {
            var token = Current;
            if (token.IsOperator("."))
            {
                _index++;
                var member = Current;
                if (member.Kind == TokenKind.Name)
                {
                    _index++;
                    node = new GetAttrExpr(token.Position, node, member.Value);
                }
                else if (member.Kind == TokenKind.Integer)
                {
                    // Jinja reads x.0 as x[0].
                    _index++;
                    node = new GetItemExpr(token.Position, node, new LiteralExpr(member.Position, long.Parse(member.Value, CultureInfo.InvariantCulture)));
                }
                else
                {
                    throw _source.Error($"expected an attribute name after '.', got {member}", member.Position);
                }
            }
            else if (token.IsOperator("["))
            {
                _index++;
                node = ParseSubscript(node, token.Position);
            }
            else if (token.IsOperator("("))
            {
                node = new CallExpr(token.Position, node, ParseArguments());
            }
            else
            {
                return node;
            }
        }
    }

    private Expr ParseSubscript(Expr target, int position)
    {
        Expr? start = null;
        if (!Current.IsOperator(":"))
        {
            start = ParseExpression(withCondition: true);
            if (Current.IsOperator("]"))
            {
                _index++;
                return new GetItemExpr(position, target, start);
            }
        }

        ExpectOperator(":");
        Expr? stop = null, step = null;
        if (!Current.IsOperator("]") && !Current.IsOperator(":"))
        {
            stop = ParseExpression(withCondition: true);
        }

        if (Current.IsOperator(":"))
        {
            _index++;
            if (!Current.IsOperator("]"))
            {
                step = ParseExpression(withCondition: true);
            }
        }

        ExpectOperator("]");
        return new SliceExpr(position, target, start, stop, step);
    }

    private Expr ParseFilterAndTest(Expr node)
    {
        while (true)
        {
            var token = Current;
            if (token.IsOperator("|"))
            {
                _index++;
                var name = ExpectName();
                CheckFilter(name);
                var arguments = Current.IsOperator("(") ? ParseArguments() : ArgumentList.Empty;
                node = new FilterExpr(name.Position, node, name.Value, arguments);
            }
            else if (token.IsName("is"))
            {
                _index++;
                var negated = false;
                if (Current.IsName("not"))
                {
                    negated = true;
                    _index++;
                }

                var name = Current;
                if (name.Kind == TokenKind.Name || (name.Kind == TokenKind.Operator && TestFunctions.Exists(name.Value)))
                {
                    _index++;
                }
                else
                {
                    throw _source.Error($"expected a test name after 'is', got {name}", name.Position);
                }

                if (!TestFunctions.Exists(name.Value))
                {
                    throw _source.Error($"no test named '{name.Value}'", name.Position);
                }

                ArgumentList arguments;
                if (Current.IsOperator("("))
                {
                    arguments = ParseArguments();
                }
                else if (StartsBareTestArgument(Current))
                {
                    // "x is divisibleby 3", "x is sameas false": one argument without parentheses.
                    arguments = new ArgumentList([ParsePostfix(ParsePrimary())], []);
                }
                else
                {
                    arguments = ArgumentList.Empty;
                }

                node = new TestExpr(name.Position, node, name.Value, arguments, negated);
            }
            else if (token.IsOperator("("))
            {
                node = new CallExpr(token.Position, node, ParseArguments());
            }
            else
            {
                return node;
            }
        }
    }

    private static bool StartsBareTestArgument(Token token) => token.Kind switch
    {
        TokenKind.String or TokenKind.Integer or TokenKind.Float => true,
        TokenKind.Name => token.Value is not ("else" or "or" or "and" or "is" or "if" or "in" or "not"),
        TokenKind.Operator => token.Value is "[" or "{",
        _ => false,
    };

    private ArgumentList ParseArguments()
    {
        ExpectOperator("(");
        var positional = new List<Expr>();
        var named = new List<(string, Expr)>();
        while (!Current.IsOperator(")"))
        {
            if (positional.Count + named.Count > 0)
            {
                ExpectOperator(",");
                if (Current.IsOperator(")"))
                {
                    break;
                }
            }

            if (Current.Kind == TokenKind.Name && Peek().IsOperator("="))
            {
                var name = Current.Value;
                _index += 2;
                named.Add((name, ParseExpression(withCondition: true)));
            }
            else
            {
                if (named.Count > 0)
                {
                    throw _source.Error("positional argument follows keyword argument", Current.Position);
                }

                positional.Add(ParseExpression(withCondition: true));
            }
        }

        _index++;
        return new ArgumentList(positional, named);
    }

    private void CheckFilter(Token name)
    {
        if (!Filters.Exists(name.Value))
        {
            throw _source.Error($"no filter named '{name.Value}'", name.Position);
        }
    }

    private Token ExpectName()
    {
        var token = Current;
        if (token.Kind != TokenKind.Name)
        {
            throw _source.Error($"expected a name, got {token}", token.Position);
        }

        _index++;
        return token;
    }

    private void ExpectOperator(string op)
    {
        if (!Current.IsOperator(op))
        {
            throw _source.Error($"expected '{op}', got {Current}", Current.Position);
        }

        _index++;
    }

    private void Expect(TokenKind kind, string what)
    {
        if (Current.Kind != kind)
        {
            throw _source.Error($"expected {what}, got {Current}", Current.Position);
        }

        _index++;
    }

    private void ExpectBlockEnd() => Expect(TokenKind.BlockEnd, "'%}'");
}
