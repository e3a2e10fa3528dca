using System.Globalization;
using Microsoft.Extensions.Configuration;
using Microsoft.Extensions.Options;

namespace Dynamo.Router;

/// <summary>Binds <c>Dynamo:Router</c> strictly: an unknown key or a bad value is an error naming the key and the value.</summary>
public static class RouterConfiguration
{
    /// <exception cref="OptionsValidationException">Unknown keys or bad values; one failure per problem.</exception>
    public static RouterOptions Bind(IConfiguration root)
    {
        ArgumentNullException.ThrowIfNull(root);
        const string S = RouterOptions.SectionName;
        var options = new RouterOptions();
        var errors = new List<string>();
        foreach (var child in root.GetSection(S).GetChildren())
        {
            var value = child.Value;
            if (value is null && string.Equals(child.Key, "Timing", StringComparison.OrdinalIgnoreCase))
            {
                BindTiming(child, options.Timing, errors);
                continue;
            }

            if (value is null)
            {
                errors.Add($"{S}:{child.Key}: expected a value, not a section.");
                continue;
            }

            switch (child.Key.ToLowerInvariant())
            {
                case "mode":
                    if (RouterOptions.TryParseMode(value, out var mode))
                    {
                        options.Mode = mode;
                    }
                    else
                    {
                        errors.Add($"{S}:Mode = '{value}': expected round-robin, random, least-loaded or kv.");
                    }

                    break;
                case "seed":
                    if (int.TryParse(value, NumberStyles.Integer, CultureInfo.InvariantCulture, out var seed))
                    {
                        options.Seed = seed;
                    }
                    else
                    {
                        errors.Add($"{S}:Seed = '{value}': expected an integer.");
                    }

                    break;
                case "activerequestttl":
                    options.ActiveRequestTtl = ParseSpan(value, $"{S}:ActiveRequestTtl", "00:10:00", errors);
                    break;
                case "sessionttl":
                    options.SessionTtl = ParseSpan(value, $"{S}:SessionTtl", "00:30:00", errors);
                    break;
                case "maxsessions":
                    options.MaxSessions = ParseInt(value, $"{S}:MaxSessions", 1, errors);
                    break;
                case "approximatettl":
                    options.ApproximateTtl = ParseSpan(value, $"{S}:ApproximateTtl", "00:02:00", errors);
                    break;
                case "prefillloadscale":
                    options.PrefillLoadScale = ParseDouble(value, $"{S}:PrefillLoadScale", errors);
                    break;
                case "temperature":
                    options.Temperature = ParseDouble(value, $"{S}:Temperature", errors);
                    break;
                case "cost":
                    if (RouterOptions.TryParseCost(value, out var cost))
                    {
                        options.Cost = cost;
                    }
                    else
                    {
                        errors.Add($"{S}:Cost = '{value}': expected predicted or blocks.");
                    }

                    break;
                case "decodeimpactweight":
                    options.DecodeImpactWeight = ParseDouble(value, $"{S}:DecodeImpactWeight", errors);
                    break;
                case "expectedoutputtokens":
                    options.ExpectedOutputTokens = ParseInt(value, $"{S}:ExpectedOutputTokens", 0, errors);
                    break;
                case "balanceabsolutethreshold":
                    options.BalanceAbsoluteThreshold = ParseInt(value, $"{S}:BalanceAbsoluteThreshold", 0, errors);
                    break;
                case "balancerelativethreshold":
                    options.BalanceRelativeThreshold = ParseDouble(value, $"{S}:BalanceRelativeThreshold", errors);
                    break;
                case "busycostms":
                    options.BusyCostMs = ParseDouble(value, $"{S}:BusyCostMs", errors);
                    break;
                case "busycosttokens":
                    options.BusyCostTokens = ParseInt(value, $"{S}:BusyCostTokens", 0, errors);
                    break;
                case "busyfloor":
                    options.BusyFloor = ParseDouble(value, $"{S}:BusyFloor", errors);
                    break;
                case "busywindow":
                    options.BusyWindow = ParseSpan(value, $"{S}:BusyWindow", "00:00:10", errors);
                    break;
                case "busykvusage":
                    options.BusyKvUsage = ParseDouble(value, $"{S}:BusyKvUsage", errors);
                    break;
                case "busywaitingrequests":
                    options.BusyWaitingRequests = ParseInt(value, $"{S}:BusyWaitingRequests", 0, errors);
                    break;
                case "loadreportmaxage":
                    options.LoadReportMaxAge = ParseSpan(value, $"{S}:LoadReportMaxAge", "00:00:03", errors);
                    break;
                case "usekvevents":
                    options.UseKvEvents = ParseBool(value, $"{S}:UseKvEvents", errors);
                    break;
                case "replicasync":
                    options.ReplicaSync = ParseBool(value, $"{S}:ReplicaSync", errors);
                    break;
                default:
                    errors.Add($"{S}:{child.Key}: unknown key.");
                    break;
            }
        }

        if (errors.Count == 0)
        {
            errors.AddRange(options.Validate());
        }

        return errors.Count == 0 ? options : throw new OptionsValidationException(S, typeof(RouterOptions), errors);
    }

    private static void BindTiming(IConfigurationSection section, RouterTiming timing, List<string> errors)
    {
        var prefix = $"{RouterOptions.SectionName}:Timing";
        foreach (var child in section.GetChildren())
        {
            var value = child.Value;
            var key = $"{prefix}:{child.Key}";
            if (value is null)
            {
                errors.Add($"{key}: expected a value, not a section.");
                continue;
            }

            switch (child.Key.ToLowerInvariant())
            {
                case "stepbasems":
                    timing.StepBaseMs = ParseDouble(value, key, errors);
                    break;
                case "prefillpertokenms":
                    timing.PrefillPerTokenMs = ParseDouble(value, key, errors);
                    break;
                case "prefillattentionms":
                    timing.PrefillAttentionMs = ParseDouble(value, key, errors);
                    break;
                case "decodepersequencems":
                    timing.DecodePerSequenceMs = ParseDouble(value, key, errors);
                    break;
                case "decodeperkvtokenms":
                    timing.DecodePerKvTokenMs = ParseDouble(value, key, errors);
                    break;
                case "maxbatchedtokens":
                    timing.MaxBatchedTokens = ParseInt(value, key, 1, errors);
                    break;
                default:
                    errors.Add($"{key}: unknown key (expected StepBaseMs, PrefillPerTokenMs, PrefillAttentionMs, DecodePerSequenceMs, DecodePerKvTokenMs or MaxBatchedTokens).");
                    break;
            }
        }
    }

    private static int ParseInt(string value, string key, int minimum, List<string> errors)
    {
        if (int.TryParse(value, NumberStyles.Integer, CultureInfo.InvariantCulture, out var number) && number >= minimum)
        {
            return number;
        }

        errors.Add($"{key} = '{value}': expected an integer >= {minimum}.");
        return minimum;
    }

    private static TimeSpan ParseSpan(string value, string key, string example, List<string> errors)
    {
        if (TimeSpan.TryParse(value, CultureInfo.InvariantCulture, out var span) && span > TimeSpan.Zero)
        {
            return span;
        }

        errors.Add($"{key} = '{value}': expected a positive time span such as {example}.");
        return TimeSpan.FromSeconds(1);
    }

    private static double ParseDouble(string value, string key, List<string> errors)
    {
        if (double.TryParse(value, NumberStyles.Float, CultureInfo.InvariantCulture, out var number) && double.IsFinite(number) && number >= 0)
        {
            return number;
        }

        errors.Add($"{key} = '{value}': must be a finite number >= 0.");
        return 0;
    }

    private static bool ParseBool(string value, string key, List<string> errors)
    {
        if (bool.TryParse(value, out var flag))
        {
            return flag;
        }

        errors.Add($"{key} = '{value}': expected true or false.");
        return false;
    }
}
