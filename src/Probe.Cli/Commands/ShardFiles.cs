using System.CommandLine;
using System.CommandLine.Parsing;
using System.Text.Json;
using System.Text.Json.Serialization;
using Probe.Data;

namespace Probe.Cli.Commands;

/// <summary>
/// <c>--shard i/n</c> and the partial-state files shards write for <c>probe merge</c>: one JSON file per shard folder,
/// named by what it holds (<c>dead-partial.json</c>, <c>cka-partial.json</c>), with the shard and the data it covered.
/// Numbers are written so they read back bit-for-bit (shortest round-trip doubles and floats).
/// </summary>
internal static class ShardFiles
{
    public const string Dead = "dead-partial.json";
    public const string Cka = "cka-partial.json";
    public const string Capture = "capture-partial.json";

    public static Option<string?> Option() => new("--shard")
    {
        Description = "Handle only shard i of n (i/n, 0-based: a contiguous slice of whole batches) and write a partial state to --out for 'probe merge'.",
        CustomParser = r =>
        {
            string v = r.Tokens.Count > 0 ? r.Tokens[0].Value : "";
            try { Shard.Parse(v); } catch (ProbeException e) { r.AddError(e.Message); }
            return v;
        },
    };

    static readonly JsonSerializerOptions Json = new()
    {
        WriteIndented = false,
        NumberHandling = JsonNumberHandling.AllowNamedFloatingPointLiterals,
        Converters = { new JsonStringEnumConverter() },
    };

    /// <summary>
    /// What every partial file holds: the shard, the slice it covered, the data set's size, the state, and the settings
    /// the shard ran with (<see cref="Settings"/>), which every shard of one run shares.
    /// </summary>
    public sealed record Partial<T>(string Shard, int Start, int Samples, int Total, string Data, T State, string[]? Settings = null);

    public static void Write<T>(string dir, string name, Shard shard, int start, int samples, int total, string data, T state, ParseResult settings)
    {
        Directory.CreateDirectory(dir);
        string path = Path.Combine(dir, name), tmp = path + ".tmp";
        File.WriteAllText(tmp, JsonSerializer.Serialize(new Partial<T>(shard.ToString(), start, samples, total, data, state, Settings(settings)), Json));
        File.Move(tmp, path, overwrite: true);
    }

    // Options that say only where or how a shard writes, or where it computes: shards of one run may differ in them.
    static readonly HashSet<string> Free = new(StringComparer.Ordinal)
        { "--shard", "--out", "--force", "--json", "--fail-above", "--device", "--threads", "--quiet", "--verbose", "--progress", "--timings" };

    /// <summary>
    /// Every option of the command a shard ran (given or defaulted) that shapes its result, as <c>name=value</c>: the
    /// model, its weights, the layers, the reduction, the batch size, the seed, the measure's settings... A file is
    /// named by its SHA-256, so shards whose weights differ under one path (or agree under two) are told apart.
    /// </summary>
    internal static string[] Settings(ParseResult p) =>
        p.CommandResult.Command.Options.Where(o => !Free.Contains(o.Name))
            .Select(o => $"{o.Name}={Text(p.GetResult(o) is OptionResult r ? r.GetValueOrDefault<object?>() : null)}")
            .Order(StringComparer.Ordinal).ToArray();

    static string Text(object? v) => v switch
    {
        null => "",
        bool b => b ? "true" : "false",
        string s when File.Exists(s) => "sha256:" + FileHash(s),
        string s => s,
        System.Collections.IEnumerable e => string.Join(",", e.Cast<object?>().Select(Text)),
        IFormattable f => f.ToString(null, System.Globalization.CultureInfo.InvariantCulture),
        _ => v.ToString() ?? "",
    };

    static string FileHash(string path)
    {
        using var stream = File.OpenRead(path);
        return Convert.ToHexStringLower(System.Security.Cryptography.SHA256.HashData(stream));
    }

    public static Partial<T> Read<T>(string path)
    {
        try
        {
            return JsonSerializer.Deserialize<Partial<T>>(File.ReadAllText(path), Json) ?? throw new ProbeException($"'{path}' is empty.");
        }
        catch (JsonException e)
        {
            throw new ProbeException($"'{path}' is not a partial state written by probe --shard ({e.Message}).", e);
        }
    }

    /// <summary>
    /// Checks that the parts are the shards 0..n-1 of one n-way split of one data set, each exactly once, and returns them
    /// in shard order.
    /// </summary>
    public static List<Partial<T>> Complete<T>(IEnumerable<(string Path, Partial<T> Part)> parts)
    {
        var list = parts.ToList();
        var shards = list.Select(p => (p.Path, Shard: Shard.Parse(p.Part.Shard), p.Part)).ToList();
        int n = shards[0].Shard.Count;
        if (shards.Any(s => s.Shard.Count != n))
            throw new ProbeException($"The parts come from different splits ({string.Join(", ", shards.Select(s => s.Shard).Distinct())}); merge the shards of one run.");
        if (shards.Any(s => s.Part.Total != shards[0].Part.Total || s.Part.Data != shards[0].Part.Data))
            throw new ProbeException("The parts cover different data sets; merge the shards of one run.");
        // The same model, weights, layers and settings: shards that differ in any would combine into no run's result.
        foreach (var s in shards.Skip(1))
        {
            string[] a = shards[0].Part.Settings ?? [], b = s.Part.Settings ?? [];
            if (a.SequenceEqual(b)) continue;
            string differ = a.Except(b).Concat(b.Except(a)).Select(x => x.Split('=')[0]).Distinct().FirstOrDefault() ?? "their settings";
            string Of(string[] set) => set.FirstOrDefault(x => x.Split('=')[0] == differ) is string x ? x[(x.IndexOf('=') + 1)..] is { Length: > 0 } v ? v : "(none)" : "(not recorded)";
            throw new ProbeException($"Shard {s.Shard} ran with {differ} {Of(b)} but shard {shards[0].Shard} with {Of(a)}; merge the shards of one run (same model, weights and options).");
        }
        var dup = shards.GroupBy(s => s.Shard.Index).FirstOrDefault(g => g.Count() > 1);
        if (dup != null) throw new ProbeException($"Shard {dup.Key}/{n} is given twice ({string.Join(", ", dup.Select(d => d.Path))}).");
        var missing = Enumerable.Range(0, n).Except(shards.Select(s => s.Shard.Index)).ToList();
        if (missing.Count > 0) throw new ProbeException($"Missing shard(s) {string.Join(", ", missing.Select(m => $"{m}/{n}"))}: every shard must finish before merging.");
        var ordered = shards.OrderBy(s => s.Shard.Index).ToList();
        int expect = 0;
        foreach (var s in ordered)
        {
            if (s.Part.Start != expect) throw new ProbeException($"Shard {s.Shard} starts at sample {s.Part.Start}, expected {expect}: the shards were run with different batch sizes.");
            expect += s.Part.Samples;
        }
        if (expect != ordered[0].Part.Total) throw new ProbeException($"The shards cover {expect} of {ordered[0].Part.Total} samples.");
        return ordered.Select(s => s.Part).ToList();
    }
}
