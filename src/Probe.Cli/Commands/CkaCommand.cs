using System.CommandLine;
using Probe.Data;
using Probe.Reporting;
using Probe.Reporting.Sections;
using Probe.Similarity;

namespace Probe.Cli.Commands;

/// <summary>
/// <c>probe cka</c>: CKA of two matrices (<c>--a X.npy --b Y.npy</c>), or between every pair of a model's layers on
/// a data set (<c>--model SPEC --weights FILE --data DATA</c>).
/// </summary>
internal static class CkaCommand
{
    public static Command Create(CliContext ctx)
    {
        var a = new Option<string?>("--a") { Description = "First matrix (.npy, rows = samples)." };
        var b = new Option<string?>("--b") { Description = "Second matrix (.npy, same rows in the same order)." };
        var o = new CkaOptions();
        var batch = new Option<int?>("--batch") { Description = "Matrix mode: minibatch CKA over consecutive batches of this many rows (unbiased HSIC per batch; at least 4)." };
        var models = new ModelOptions();
        var data = CliOptions.Data();
        var cmd = new Command("cka",
            "Centred kernel alignment. Two matrices: probe cka --a X.npy --b Y.npy [--kernel linear|rbf] [--sigma-frac F] [--debiased] [--batch B]. " +
            "All layer pairs of a model: probe cka --model SPEC|FILE.onnx --weights FILE --data DATA [--layers SELECTOR] [--max-samples M] [--out DIR], or of a folder of activations: probe cka --acts-dir DIR. " +
            "The selector may include 'input' (the data itself as a pseudo-layer; the default is 'input,all'). " +
            "--method auto keeps the captured layers in memory when they fit in 512 MiB (RBF: when the n x n kernels fit) and streams minibatch CKA otherwise.")
            { a, b, batch, data };
        models.AddTo(cmd);
        o.AddTo(cmd);
        var shard = ShardFiles.Option();
        cmd.Add(shard);
        cmd.Validators.Add(r =>
        {
            if (r.GetResult(shard) != null)
            {
                if (r.GetValue(o.Method) != "minibatch") r.AddError("--shard needs --method minibatch: only minibatch CKA's sums add up across shards.");
                if (r.GetResult(o.Out) == null) r.AddError($"--shard needs --out DIR: the shard writes its partial sums there ({ShardFiles.Cka}) for 'probe merge'.");
                if (r.GetResult(o.MaxSamples) != null) r.AddError("--shard covers its own slice of the data; drop --max-samples.");
            }
            bool hasA = r.GetResult(a) != null, hasB = r.GetResult(b) != null, hasModel = models.HasModel(r), hasActs = models.HasActsDir(r);
            if (hasA != hasB) r.AddError("Give both --a and --b (two matrices with the same rows).");
            else if ((hasA ? 1 : 0) + (hasModel ? 1 : 0) + (hasActs ? 1 : 0) > 1) r.AddError("Give one of --a/--b (two matrices), --model (all layer pairs of a model) or --acts-dir (all pairs of stored layers).");
            else if (!hasA && !hasModel && !hasActs) r.AddError("Give --a X.npy --b Y.npy, --model SPEC --weights W --data DATA, or --acts-dir DIR.");
            else if (hasModel && r.GetResult(data) == null) r.AddError("--model needs --data (the inputs to run through the model).");
            if (hasActs && r.GetResult(data) != null) r.AddError("--acts-dir holds its own samples; drop --data.");
            models.Validate(r);
            if (r.GetResult(batch) != null && !hasA) r.AddError("--batch is for two matrices; for a model use --method minibatch --batch-size B.");
            if (r.GetValue(batch) is int bs && bs < 4) r.AddError($"--batch must be at least 4 (the unbiased HSIC needs 4 rows), got {bs}.");
            o.Validate(r);
        });
        cmd.SetAction(p =>
        {
            var measure = o.Measure(p);
            if (p.GetValue(a) is string pa)
            {
                // Memory-mapped: the linear form reads both files a chunk of rows at a time, never whole.
                using var x = NpyDatasets.OpenNpy(pa);
                using var y = NpyDatasets.OpenNpy(p.GetValue(b)!);
                double value;
                string name;
                int? bs = p.GetValue(batch);
                if (bs is int size)
                {
                    value = MinibatchCka.Compute(x.ToMemory().Features, y.ToMemory().Features, size, measure.Kernel, measure.SigmaFrac);
                    name = $"minibatch {(measure.Kernel == CkaKernel.Linear ? "linear" : "RBF")} CKA (batch {size}, unbiased HSIC)";
                }
                else { value = measure.Compute(x, y); name = measure.Measure; }
                int rows = x.Count, xCols = x.SampleSize(), yCols = y.SampleSize();
                if (p.GetValue(o.Json))
                    ctx.Out.WriteLine(JsonOutput.Serialize(new { measure = name, value, samples = rows, a = new { path = pa, cols = xCols }, b = new { path = p.GetValue(b), cols = yCols }, batch = bs }));
                else
                    ctx.Out.WriteLine($"{name}: {CliOptions.F(value, "0.######")}  ({rows} samples, {xCols} vs {yCols} features)");
                return ExitCodes.Ok;
            }
            var (source, dataset) = models.OpenWithData(p, p.GetValue(data), p.GetValue(o.Seed));
            using var _s = source;
            using var _d = dataset as IDisposable;
            var study = o.Study(p) with { Cancellation = ctx.Cancel };
            // Stored activations have no input pseudo-layer unless the user names it; default to every stored layer.
            if (source is Probe.Capture.PrecomputedSource && p.GetResult(o.Layers) is null) study = study with { Layers = "all" };
            if (p.GetValue(shard) is string shardText)
            {
                var part = Shard.Parse(shardText);
                var (start, count) = part.Range(dataset.Count, study.BatchSize);
                var state = study.MinibatchState(source, part.Slice(dataset, study.BatchSize));
                string partDir = p.GetValue(o.Out)!;
                ShardFiles.Write(partDir, ShardFiles.Cka, part, start, count, dataset.Count, p.GetValue(data) ?? p.GetValue(models.ActsDir)!, state);
                ctx.Out.WriteLine($"Shard {part}: samples {start}..{start + count - 1} of {dataset.Count}; minibatch CKA sums written to {Path.Combine(partDir, ShardFiles.Cka)} (combine the shards with 'probe merge').");
                return ExitCodes.Ok;
            }
            var result = study.Within(source, dataset);
            o.Write(ctx, p, result, "cka", "layer", "layer");
            return ExitCodes.Ok;
        });
        return cmd;
    }
}

/// <summary>The options <c>probe cka</c> and <c>probe compare</c> share, and how results are printed and written.</summary>
internal sealed class CkaOptions
{
    public readonly Option<string> Kernel = new("--kernel") { Description = "linear (default) or rbf.", DefaultValueFactory = _ => "linear" };
    public readonly Option<double> SigmaFrac = new("--sigma-frac") { Description = "RBF bandwidth: sigma = F x median pairwise distance (default 0.4).", DefaultValueFactory = _ => 0.4 };
    public readonly Option<bool> Debiased = new("--debiased") { Description = "Use the unbiased HSIC estimator (Song et al. 2012)." };
    public readonly Option<string> Layers = new("--layers") { Description = "Layer selector (names, globs, type:Linear, all) plus 'input' for the data itself.", DefaultValueFactory = _ => "input,all" };
    public readonly Option<int?> MaxSamples = CliOptions.MaxSamples();
    public readonly Option<int> Seed = CliOptions.Seed();
    public readonly Option<int> BatchSize = CliOptions.BatchSize();
    public readonly Option<string> Method = new("--method") { Description = "auto (default), full (all samples in memory, exact) or minibatch (streaming, unbiased HSIC per batch of --batch-size).", DefaultValueFactory = _ => "auto" };
    public readonly Option<string?> Out = new("--out") { Description = "Folder for cka.json and the heatmap (PNG and SVG)." };
    public readonly Option<bool> Json = CliOptions.Json();

    public void AddTo(Command cmd)
    {
        foreach (var opt in new Option[] { Kernel, SigmaFrac, Debiased, Layers, MaxSamples, Seed, BatchSize, Method, Out, Json }) cmd.Add(opt);
    }

    public void Validate(System.CommandLine.Parsing.CommandResult r)
    {
        // Only options given on the command line are checked here (defaults are valid).
        if (r.GetResult(Kernel) != null && r.GetValue(Kernel) is string k && k is not ("linear" or "rbf")) r.AddError($"--kernel must be linear or rbf, not '{k}'.");
        if (r.GetResult(SigmaFrac) != null && r.GetValue(SigmaFrac) is var f && (!(f > 0) || !double.IsFinite(f))) r.AddError($"--sigma-frac must be a positive number, got {CliOptions.F(f)}.");
        if (r.GetResult(Method) != null && r.GetValue(Method) is string m && m is not ("auto" or "full" or "minibatch")) r.AddError($"--method must be auto, full or minibatch, not '{m}'.");
        if (r.GetResult(BatchSize) != null && r.GetValue(BatchSize) < 4) r.AddError("--batch-size must be at least 4.");
        if (r.GetResult(MaxSamples) != null && r.GetValue(MaxSamples) is int ms && ms < 4) r.AddError($"--max-samples must be at least 4, got {ms}.");
    }

    public Cka Measure(ParseResult p) =>
        new(p.GetValue(Kernel) == "rbf" ? CkaKernel.Rbf : CkaKernel.Linear, p.GetValue(SigmaFrac), p.GetValue(Debiased));

    public CkaStudy Study(ParseResult p) => new(Measure(p), p.GetValue(Layers)!, MaxSamples: p.GetValue(MaxSamples), Seed: p.GetValue(Seed),
        Method: p.GetValue(Method) switch { "full" => CkaStudyMethod.Full, "minibatch" => CkaStudyMethod.Minibatch, _ => CkaStudyMethod.Auto },
        BatchSize: p.GetValue(BatchSize));

    /// <summary>Prints the table (or JSON) and, with --out, writes cka.json and the heatmap.</summary>
    public void Write(CliContext ctx, ParseResult p, CkaStudyResult result, string stem, string rowTitle, string colTitle) =>
        Write(ctx, result, p.GetValue(Out), p.GetValue(Json), stem, rowTitle, colTitle);

    /// <summary>Prints the table (or JSON when <paramref name="json"/>) and, with an output folder, writes STEM.json and the heatmap.</summary>
    public static void Write(CliContext ctx, CkaStudyResult result, string? outDir, bool json, string stem, string rowTitle, string colTitle)
    {
        var t = result.Table;
        var doc = new { measure = t.Measure, method = result.Method.ToString().ToLowerInvariant(), samples = result.Samples, data = result.Data, rowModel = result.RowModel, columnModel = result.ColumnModel, rows = t.RowLayers, columns = t.ColLayers, values = t.Values };
        if (outDir is string dir)
        {
            Directory.CreateDirectory(dir);
            JsonOutput.Write(Path.Combine(dir, stem + ".json"), doc, stem + ".json");
            CkaFigures.Save(t, Path.Combine(dir, stem), $"{t.Measure}, {result.Samples} samples", rowTitle, colTitle);
        }
        if (json) { ctx.Out.WriteLine(JsonOutput.Serialize(doc)); return; }
        ctx.Out.WriteLine(CkaStudy.Describe(result));
        ctx.Out.Write(Table(t));
        if (outDir is string d) ctx.Out.WriteLine($"Wrote {stem}.json, {stem}.png and {stem}.svg to {d}");
    }

    /// <summary>The CKA matrix as an aligned text table (rows: row layers; columns: column layers).</summary>
    public static string Table(CkaMatrix t) =>
        TextTable.Render(new[] { "" }.Concat(t.ColLayers).ToArray(),
            t.RowLayers.Select((r, i) => (IReadOnlyList<string>)new[] { r }.Concat(t.Values[i].Select(v => CliOptions.F(v, "0.000"))).ToArray()));
}
