using System.CommandLine;
using System.CommandLine.Parsing;
using System.Globalization;
using Probe.Capture;
using Probe.Data;
using Probe.Models;
using Probe.Reporting;
using Probe.Similarity;

namespace Probe.Cli.Commands;

/// <summary>
/// <c>probe similarity --measure M</c>, the one implementation behind <c>probe cka</c> (the same command with
/// <c>--measure cka</c> preset) and <c>probe compare</c> (the same command; <c>--measure</c> defaults to cka). Modes:
/// two matrices (<c>--a X.npy --b Y.npy</c>, with <c>--bootstrap N</c> / <c>--permutations N</c>); every pair of one
/// model's layers (<c>--model M --weights W --data DATA</c>) or of a folder of activations (<c>--acts-dir DIR</c>);
/// model A's layers x model B's: two checkpoints of a run (<c>--run DIR [--epochs 0,final]</c>), two runs
/// (<c>--run A --run-b B</c>) or two models (<c>--model-a .. --weights-a .. --weights-b .. --data DATA</c>).
/// The layer modes print a table and, with <c>--out DIR</c>, write STEM.json and a heatmap (STEM = the command name).
/// </summary>
internal static class SimilarityCommand
{
    /// <summary>Which command the grammar is exposed as: the measure preset and the name of the written files.</summary>
    internal enum Flavour { Similarity, Cka, Compare }

    /// <summary>Default sample cap of the layer modes for measures other than CKA (RSA and mutual k-NN cost O(n^2)).</summary>
    public const int DefaultMaxSamples = 2000;

    public static Command Create(CliContext ctx) => Build(ctx, Flavour.Similarity);

    public static Command Build(CliContext ctx, Flavour flavour)
    {
        string name = flavour.ToString().ToLowerInvariant();
        var o = new SimilarityOptions(flavour);
        var cmd = new Command(name, flavour switch
        {
            Flavour.Cka => "Centred kernel alignment: 'probe similarity --measure cka' with its kernel options. " + Grammar("cka", "[--kernel linear|rbf] [--sigma-frac F] [--debiased]") +
                " Two matrices also take --batch B (minibatch CKA). --method auto keeps the captured layers in memory when they fit in 512 MiB (RBF: when the n x n kernels fit) and streams minibatch CKA otherwise; --shard i/n (with --method minibatch) writes partial sums for 'probe merge'.",
            Flavour.Compare => "Similarity between the layers of two models on the same inputs (rows: A's layers, columns: B's): 'probe similarity' with --measure defaulting to cka. " + Grammar("compare", "[--measure M]"),
            _ => "A similarity measure between representations of the same samples: " + string.Join(", ", SimilarityMeasure.Names) + ". " + Grammar("similarity", "--measure M") +
                " linreg is the R^2 of predicting the column side (--b, model B) from the row side; pwcca weights by the side with fewer columns.",
        });
        o.AddTo(cmd);
        cmd.SetAction(p => Run(ctx, p, o, name));
        return cmd;
    }

    private static string Grammar(string cmd, string measure) =>
        $"Two matrices: probe {cmd} {measure} --a X.npy --b Y.npy [--bootstrap N] [--permutations N] [--json]. " +
        $"All layer pairs of a model: probe {cmd} {measure} --model SPEC|FILE.onnx --weights FILE --data DATA [--layers SELECTOR] [--max-samples M] [--out DIR], or of stored activations: --acts-dir DIR. " +
        $"Two checkpoints of a run: --run DIR [--epochs 0,final]; two runs (e.g. seeds): --run DIR --run-b DIR2 [--epochs final,final]; two models: --model-a SPEC --weights-a FILE [--model-b SPEC] --weights-b FILE --data DATA. " +
        "The selector may include 'input' (the data itself as a pseudo-layer; the default is 'input,all'; stored activations default to 'all'). Runs use their own data's held-out split unless --data is given. " +
        $"Measures other than CKA keep the layers in memory and use at most {DefaultMaxSamples} samples unless --max-samples says otherwise.";

    private static int Run(CliContext ctx, ParseResult p, SimilarityOptions o, string stem)
    {
        var measure = o.Measure(p);
        if (p.GetValue(o.A) is string pa) return TwoMatrices(ctx, p, o, measure, pa, p.GetValue(o.B)!);
        var study = o.Study(p, measure) with
        {
            Cancellation = ctx.Cancel,
            Progress = (stage, done, total) => ctx.Progress.Report(stage, done, total),
            Device = o.Models.DeviceOf(p),
        };
        SimilarityStudyResult result;
        string rowTitle = "layer", colTitle = "layer";
        if (p.GetValue(o.Run) is not null || p.GetValue(o.ModelA) is not null)
        {
            var (a, b, nameA, nameB, dataset) = o.OpenPair(p);
            using (a)
            using (b)
            using (dataset as IDisposable)
                result = study.Cross(a, b, dataset, nameA, nameB);
            rowTitle = "A: " + nameA;
            colTitle = "B: " + nameB;
        }
        else
        {
            var (source, dataset) = o.Models.OpenWithData(p, p.GetValue(o.Data), p.GetValue(o.Seed));
            using var _s = source;
            using var _d = dataset as IDisposable;
            // Stored activations have no input pseudo-layer unless the user names it; default to every stored layer.
            if (source is PrecomputedSource && p.GetResult(o.Layers) is not { Implicit: false }) study = study with { Layers = "all" };
            if (p.GetValue(o.Shard) is string shardText)
            {
                var cka = new CkaStudy(((CkaMeasure)measure).Settings, study.Layers, study.Reduce, null, study.Seed, CkaStudyMethod.Minibatch, study.BatchSize) { TokenMask = study.TokenMask };
                var part = Shard.Parse(shardText);
                var (start, count) = part.Range(dataset.Count, cka.BatchSize);
                var state = cka.MinibatchState(source, part.Slice(dataset, cka.BatchSize));
                string partDir = p.GetValue(o.Out)!;
                ShardFiles.Write(partDir, ShardFiles.Cka, part, start, count, dataset.Count, p.GetValue(o.Data) ?? p.GetValue(o.Models.ActsDir)!, state, p);
                ctx.Out.WriteLine($"Shard {part}: samples {start}..{start + count - 1} of {dataset.Count}; minibatch CKA sums written to {Path.Combine(partDir, ShardFiles.Cka)} (combine the shards with 'probe merge').");
                return ExitCodes.Ok;
            }
            result = study.Within(source, dataset);
        }
        Write(ctx, result, p.GetValue(o.Out), p.GetValue(o.Json), stem, rowTitle, colTitle, o.Figure.Settings(p));
        return ExitCodes.Ok;
    }

    private static int TwoMatrices(CliContext ctx, ParseResult p, SimilarityOptions o, SimilarityMeasure m, string pa, string pb)
    {
        int s = p.GetValue(o.Seed);
        SimilarityScore score;
        string description = m.Description;
        int? batch = p.GetValue(o.Batch);
        if (m is CkaMeasure cm && batch is null && p.GetValue(o.Bootstrap) is null && p.GetValue(o.Permutations) is null)
        {
            // Memory-mapped: CKA reads both files a chunk of rows at a time (the linear form never holds them whole).
            // One file given twice is one data set: its products are formed once and the value is exactly 1.
            bool same = string.Equals(Path.GetFullPath(pa), Path.GetFullPath(pb), StringComparison.Ordinal);
            using var xs = NpyDatasets.OpenNpy(pa);
            using var other = same ? null : NpyDatasets.OpenNpy(pb);
            var ys = other ?? xs;
            score = new SimilarityScore(m.Name, cm.Settings.Compute(xs, ys), new SortedDictionary<string, double>());
            return Print(ctx, p, o, m, pa, pb, score, description, xs.Count, xs.SampleSize(), ys.SampleSize(), batch, s, null, null);
        }
        var x = Npy.ReadMatrix(pa);
        var y = Npy.ReadMatrix(pb);
        if (batch is int size)
        {
            var cka = ((CkaMeasure)m).Settings;
            score = new SimilarityScore(m.Name, MinibatchCka.Compute(x, y, size, cka.Kernel, cka.SigmaFrac), new SortedDictionary<string, double>());
            description = $"minibatch {(cka.Kernel == CkaKernel.Linear ? "linear" : "RBF")} CKA (batch {size}, unbiased HSIC)";
        }
        else score = m.Compute(x, y);
        var ci = p.GetValue(o.Bootstrap) is int nb ? new SimilarityBootstrap(nb, s).Run(m, x, y) : null;
        var perm = p.GetValue(o.Permutations) is int np ? new SimilarityPermutationTest(np, s).Run(m, x, y) : null;
        return Print(ctx, p, o, m, pa, pb, score, description, x.Rows, x.Cols, y.Cols, batch, s, ci, perm);
    }

    private static int Print(CliContext ctx, ParseResult p, SimilarityOptions o, SimilarityMeasure m, string pa, string pb, SimilarityScore score,
        string description, int rows, int xCols, int yCols, int? batch, int s, BootstrapInterval? ci, PermutationNull? perm)
    {
        if (score.Caveat is string caveat) ProbeCli.Warn(caveat);
        if (p.GetValue(o.Json))
        {
            ctx.Out.WriteLine(JsonOutput.Serialize(new
            {
                measure = m.Name,
                description,
                value = score.Value,
                details = score.Details.Count == 0 ? null : score.Details,
                caveat = score.Caveat,
                samples = rows,
                a = new { path = pa, Cols = xCols },
                b = new { path = pb, Cols = yCols },
                k = m is MutualKnnMeasure mk ? mk.K : (int?)null,
                keep = m is SvccaMeasure sv ? sv.Keep : (double?)null,
                batch,
                seed = ci != null || perm != null ? s : (int?)null,
                bootstrap = ci == null ? null : new { interval = ci.Method, ci.Replicates, ci.Level, ci.Low, ci.High, ci.ContainsEstimate, ci.PercentileLow, ci.PercentileHigh, ci.Mean, ci.StandardError, ci.Bias },
                permutation = perm == null ? null : new { perm.Permutations, perm.Mean, perm.StandardDeviation, perm.Low, perm.High, perm.PValue },
            }, "similarity"));
            return ExitCodes.Ok;
        }
        string extra = score.Details.Count == 0 ? "" :
            "  (" + string.Join(", ", score.Details.Where(d => d.Key != "similarity").Select(d => $"{d.Key} {CliOptions.F(d.Value, "0.######")}")) + ")";
        ctx.Out.WriteLine($"{description}: {CliOptions.F(score.Value, "0.######")}{extra}  ({rows} samples, {xCols} vs {yCols} features)");
        if (ci != null)
        {
            ctx.Out.WriteLine($"  {CliOptions.F(ci.Level * 100, "0.#")}% {ci.Method} bootstrap interval ({ci.Replicates} resamples, seed {s}): [{CliOptions.F(ci.Low, "0.######")}, {CliOptions.F(ci.High, "0.######")}], " +
                $"bias {CliOptions.F(ci.Bias, "0.######")}; percentile interval [{CliOptions.F(ci.PercentileLow, "0.######")}, {CliOptions.F(ci.PercentileHigh, "0.######")}]");
            if (!ci.ContainsEstimate)
                ctx.Out.WriteLine($"  the estimate lies outside both intervals ({(ci.Estimate > ci.High ? "above the basic, below the percentile" : "below the basic, above the percentile")}): " +
                    "the bias is more than about half their width; more samples reduce it");
        }
        if (perm != null)
            ctx.Out.WriteLine($"  permutation null ({perm.Permutations} shuffles, seed {s}): mean {CliOptions.F(perm.Mean, "0.######")}, 95% of it in [{CliOptions.F(perm.Low, "0.######")}, {CliOptions.F(perm.High, "0.######")}], p = {CliOptions.F(perm.PValue, "0.####")}");
        return ExitCodes.Ok;
    }

    /// <summary>Prints the table (or JSON when <paramref name="json"/>) and, with an output folder, writes STEM.json and the heatmap (PNG and SVG).</summary>
    public static void Write(CliContext ctx, SimilarityStudyResult result, string? outDir, bool json, string stem, string rowTitle, string colTitle, FigureSettings? figures = null)
    {
        var t = result.Table;
        var doc = new { measure = result.Measure, description = t.Measure, method = result.Method, samples = result.Samples, data = result.Data, rowModel = result.RowModel, columnModel = result.ColumnModel, rows = t.RowLayers, columns = t.ColLayers, values = t.Values, caveats = t.Caveats };
        // The pairs whose values say less than they seem to (CCA-type measures with more directions than samples).
        foreach (var c in t.Caveats.Take(3)) ProbeCli.Warn(c);
        if (t.Caveats.Count > 3) ProbeCli.Warn($"... and {t.Caveats.Count - 3} more pair(s) like these (caveats in the JSON).");
        if (outDir is string dir)
        {
            Directory.CreateDirectory(dir);
            JsonOutput.Write(Path.Combine(dir, stem + ".json"), doc, stem + ".json");
            Probe.Reporting.Sections.SimilarityFigures.Save(t, Path.Combine(dir, stem), $"{t.Measure}, {result.Samples} samples", rowTitle, colTitle, figures);
        }
        if (json) { ctx.Out.WriteLine(JsonOutput.Serialize(doc, stem)); return; }
        ctx.Out.WriteLine(SimilarityStudy.Describe(result));
        ctx.Out.Write(TextTable.Render(new[] { "" }.Concat(t.ColLayers).ToArray(),
            t.RowLayers.Select((r, i) => (IReadOnlyList<string>)new[] { r }.Concat(t.Values[i].Select(v => CliOptions.F(v, "0.000"))).ToArray())));
        if (outDir is string d) ctx.Out.WriteLine($"Wrote {stem}.json, {stem}.png and {stem}.svg to {d}");
    }
}

/// <summary>The options of the similarity grammar (<c>probe similarity</c>, <c>probe cka</c>, <c>probe compare</c>) and how they become library objects.</summary>
internal sealed class SimilarityOptions(SimilarityCommand.Flavour flavour)
{
    private readonly SimilarityCommand.Flavour _flavour = flavour;

    public readonly Option<string?> MeasureName = new Option<string?>("--measure")
    {
        Description = $"The measure: {string.Join(", ", SimilarityMeasure.Names)}" + (flavour == SimilarityCommand.Flavour.Compare ? " (default cka)." : "."),
        Required = flavour == SimilarityCommand.Flavour.Similarity,
    }.Check(m => SimilarityMeasure.Names.Contains(m.Trim().ToLowerInvariant()) ? null : $"unknown measure '{m}'. Known measures: {string.Join(", ", SimilarityMeasure.Names)}.");
    public readonly Option<string?> A = CliOptions.InputFile("--a", "First matrix (.npy, rows = samples).");
    public readonly Option<string?> B = CliOptions.InputFile("--b", "Second matrix (.npy, same rows in the same order).");
    public readonly ModelOptions Models = new();
    public readonly Option<string?> Data = CliOptions.OptionalData("Data source (with --model or --model-a; for runs it overrides the run's data): " + CliOptions.DataKinds + ".");
    public readonly Option<string?> Run = CliOptions.Run();
    public readonly Option<string?> RunB = new Option<string?>("--run-b") { Description = "A second run folder: compares --run (A) with it (B)." }.Check(CliOptions.RunDirectory);
    public readonly Option<string?> Epochs = new Option<string?>("--epochs") { Description = "Two checkpoints 'EA,EB' (numbers or 'final'): of --run, or of --run and --run-b. Default: 0,final for one run; final,final for two." }.Check(t => CliOptions.EpochList(t, "final", "last"));
    public readonly Option<string?> ModelA = new Option<string?>("--model-a") { Description = "Model A: a spec or an ONNX file (instead of --run)." }.Check(CliOptions.ModelError);
    public readonly Option<string?> WeightsA = CliOptions.Weights("--weights-a", "Model A's weights.");
    public readonly Option<string?> ModelB = new Option<string?>("--model-b") { Description = "Model B: a spec or an ONNX file (default: --model-a)." }.Check(CliOptions.ModelError);
    public readonly Option<string?> WeightsB = CliOptions.Weights("--weights-b", "Model B's weights.");
    public readonly Option<string> Split = new Option<string>("--split") { Description = "For runs without --data: test (held-out rows, default), train or all.", DefaultValueFactory = _ => "test" }.Check(v => v is "test" or "train" or "all" ? null : $"must be test, train or all, not '{v}'.");
    public readonly Option<string> Layers = new("--layers") { Description = "Layer selector (names, globs, type:Linear, all) plus 'input' for the data itself.", DefaultValueFactory = _ => "input,all" };
    public readonly Option<MapReduction> Reduce = CliOptions.Reduce();
    public readonly Option<int?> MaxSamples = new Option<int?>("--max-samples") { Description = $"Use at most this many samples, chosen uniformly with the seed (default: all for CKA, {SimilarityCommand.DefaultMaxSamples} for the other measures)." }.AtLeast(4);
    public readonly Option<int> Seed = CliOptions.Seed();
    public readonly Option<int> BatchSize = CliOptions.BatchSize();
    public readonly Option<string?> Out = new Option<string?>("--out") { Description = "Layer modes: folder for the table (JSON) and the heatmap (PNG and SVG)." }.Check(CliOptions.Writable);
    public readonly Option<bool> Json = CliOptions.Json();
    public readonly Option<int> K = new Option<int>("--k") { Description = $"mutual-knn: neighbours per sample (default {MutualKnnMeasure.DefaultK}).", DefaultValueFactory = _ => MutualKnnMeasure.DefaultK }.AtLeast(1);
    public readonly Option<double> Keep = new Option<double>("--keep") { Description = $"svcca: fraction of the variance each side keeps (default {SvccaMeasure.DefaultKeep}).", DefaultValueFactory = _ => SvccaMeasure.DefaultKeep }.Satisfies(f => f > 0 && f <= 1, "in (0, 1]");
    public readonly Option<int?> Bootstrap = new Option<int?>("--bootstrap") { Description = "Two matrices: add a 95% basic (bias-correcting) bootstrap interval from this many resamples of the rows (seeded)." }.AtLeast(2);
    public readonly Option<int?> Permutations = new Option<int?>("--permutations") { Description = "Two matrices: add a permutation null from this many shuffles of the second matrix's rows (seeded)." }.AtLeast(2);
    public readonly Option<string> Kernel = new Option<string>("--kernel") { Description = "cka: linear (default) or rbf.", DefaultValueFactory = _ => "linear" }.Check(k => k is "linear" or "rbf" ? null : $"must be linear or rbf, not '{k}'.");
    public readonly Option<double> SigmaFrac = new Option<double>("--sigma-frac") { Description = "cka, RBF bandwidth: sigma^2 = F^2 x the median squared distance between samples, over all n^2 pairs with the diagonal, as in Kornblith et al.'s code (default 0.4).", DefaultValueFactory = _ => 0.4 }.Satisfies(f => f > 0 && double.IsFinite(f), "a positive number");
    public readonly Option<bool> Debiased = new("--debiased") { Description = "cka: use the unbiased HSIC estimator (Song et al. 2012)." };
    public readonly Option<int?> Batch = new Option<int?>("--batch") { Description = "cka, two matrices: minibatch CKA over consecutive batches of this many rows (unbiased HSIC per batch; at least 4)." }.AtLeast(4);
    public readonly Option<string> Method = new Option<string>("--method") { Description = "cka, layer modes: auto (default), full (all samples in memory, exact) or minibatch (streaming, unbiased HSIC per batch of --batch-size).", DefaultValueFactory = _ => "auto" }.Check(m => m is "auto" or "full" or "minibatch" ? null : $"must be auto, full or minibatch, not '{m}'.");
    public readonly Option<string?> Shard = ShardFiles.Option();
    public readonly FigureOptions Figure = new();

    public void AddTo(Command cmd)
    {
        if (_flavour != SimilarityCommand.Flavour.Cka) cmd.Add(MeasureName);
        foreach (var opt in new Option[] { A, B, Data, Run, RunB, Epochs, ModelA, WeightsA, ModelB, WeightsB, Split, Layers, Reduce, MaxSamples, Seed, BatchSize, Out, Json,
                                           K, Keep, Bootstrap, Permutations, Kernel, SigmaFrac, Debiased, Batch, Method, Shard })
            cmd.Add(opt);
        Models.AddTo(cmd);
        Figure.AddTo(cmd);
        cmd.Validators.Add(Validate);
    }

    /// <summary>The measure's CLI name (preset "cka" for probe cka, default "cka" for probe compare).</summary>
    private string? Name(CommandResult r) => _flavour == SimilarityCommand.Flavour.Cka ? "cka" : r.GetValue(MeasureName)?.Trim().ToLowerInvariant() ?? (_flavour == SimilarityCommand.Flavour.Compare ? "cka" : null);

    /// <summary>Whether the user typed the option (not just its default).</summary>
    private static bool Given(CommandResult r, Option opt) => r.GetResult(opt) is { Implicit: false };

    private void Validate(CommandResult r)
    {
        string? name = Name(r);
        if (name != null && !SimilarityMeasure.Names.Contains(name)) return; // the option's own check says what is wrong
        bool cka = name == "cka";
        bool pair = Given(r, A) || Given(r, B), model = Models.HasModel(r), acts = Models.HasActsDir(r);
        bool runs = Given(r, Run), models = Given(r, ModelA);
        int modes = (pair ? 1 : 0) + (model ? 1 : 0) + (acts ? 1 : 0) + (runs ? 1 : 0) + (models ? 1 : 0);
        if (modes == 0) { r.AddError("Give --a X.npy --b Y.npy (two matrices), --model SPEC --weights W --data DATA or --acts-dir DIR (all layer pairs), --run DIR [--run-b DIR2] (checkpoints or runs) or --model-a with --weights-a/--weights-b (two models)."); return; }
        if (modes > 1) { r.AddError("Give one of --a/--b (two matrices), --model (all layer pairs of a model), --acts-dir (stored layers), --run (checkpoints of runs) or --model-a (two models)."); return; }
        if (pair && (!Given(r, A) || !Given(r, B))) r.AddError("Give both --a and --b (two matrices with the same rows).");
        if (model && !Given(r, Data)) r.AddError("--model needs --data (the inputs to run through the model).");
        if (models && !Given(r, Data)) r.AddError("--model-a needs --data (the inputs to run through both models).");
        if (acts && Given(r, Data)) r.AddError("--acts-dir holds its own samples; drop --data.");
        if (pair && Given(r, Data)) r.AddError("--data is for the layer modes; two matrices (--a/--b) are compared as they are.");
        // Two matrices' linear CKA forms its products on the device (Cka.Device); nothing else of the stored-activation
        // modes has a GPU path.
        bool gpuCka = cka && r.GetValue(Kernel) != "rbf" && !Given(r, Batch) && !Given(r, Bootstrap) && !Given(r, Permutations);
        if (pair && !gpuCka) Models.RejectDeviceWithoutModel(r, "--a/--b with " + (cka ? "this CKA (rbf, --batch, --bootstrap or --permutations)" : $"--measure {name}"));
        if (acts) Models.RejectDeviceWithoutModel(r, "--acts-dir");
        if (!models) Models.Validate(r);
        else
        {
            if (Given(r, Models.TokenMask)) r.AddError("--token-mask goes with --model FILE.onnx and its --input arrays (all layer pairs of one model); --model-a and --run take no side inputs.");
            if (Models.HasActsDir(r)) r.AddError("--acts-dir holds activations already; it takes no --model-a.");
            string ma = r.GetValue(ModelA)!, mb = r.GetValue(ModelB) ?? ma;
            ModelOptions.CheckModel(r, ma);
            if (mb != ma) ModelOptions.CheckModel(r, mb);
            bool untrained = r.GetValue(Models.RandomWeights);
            if (r.GetResult(Models.Weights) != null) r.AddError("--weights goes with --model; two models take --weights-a and --weights-b.");
            if (untrained && (Given(r, WeightsA) || Given(r, WeightsB))) r.AddError("Give --weights-a/--weights-b or --random-weights, not both.");
            if (!untrained && !ModelLoader.CarriesWeights(ma) && !Given(r, WeightsA)) r.AddError($"--model-a {ma} needs --weights-a FILE (the trained weights); without them the model would have random weights (add --random-weights if that is what you want).");
            if (!untrained && !ModelLoader.CarriesWeights(mb) && !Given(r, WeightsB)) r.AddError($"--model-b {mb} needs --weights-b FILE (the trained weights); without them the model would have random weights (add --random-weights if that is what you want).");
        }
        if (!models && (Given(r, WeightsA) || Given(r, WeightsB) || Given(r, ModelB)))
            r.AddError("--weights-a, --weights-b and --model-b go with --model-a (two models).");
        if (Given(r, RunB) && !runs) r.AddError("--run-b needs --run.");
        if (Given(r, Epochs) && !runs) r.AddError("--epochs is for --run.");
        if (r.GetValue(Epochs) is string e && e.Split(',').Length != 2) r.AddError($"--epochs takes two checkpoints 'EA,EB', got '{e}'.");
        if (Given(r, Split) && r.GetValue(Split) is not ("test" or "train" or "all")) r.AddError($"--split must be test, train or all, not '{r.GetValue(Split)}'.");
        if (Given(r, Split) && !runs) r.AddError("--split is for --run (a run's own data).");
        if (Given(r, Split) && Given(r, Data)) r.AddError("--split picks rows of the run's own data; with --data all of that data is used. Drop --split or --data.");
        if (pair)
            foreach (var opt in new Option[] { Layers, MaxSamples, Out, Method, Shard })
                if (Given(r, opt)) r.AddError($"{opt.Name} is for the layer modes; two matrices (--a/--b) are compared whole.");
        if (!pair && (Given(r, Bootstrap) || Given(r, Permutations))) r.AddError("--bootstrap and --permutations apply to two matrices (--a/--b).");
        if (Given(r, Batch) && !pair) r.AddError("--batch is for two matrices; for layers use --method minibatch --batch-size B.");
        if (r.GetValue(Batch) is int bs && bs < 4) r.AddError($"--batch must be at least 4 (the unbiased HSIC needs 4 rows), got {bs}.");
        if (r.GetValue(Batch) != null && (Given(r, Bootstrap) || Given(r, Permutations))) r.AddError("--batch (minibatch CKA) has no --bootstrap or --permutations; drop one.");
        if (!cka && name != null)
            foreach (var opt in new Option[] { Kernel, SigmaFrac, Debiased, Batch, Method, Shard })
                if (Given(r, opt)) r.AddError($"{opt.Name} is a CKA option; --measure {name} does not take it.");
        if (Given(r, K) && r.GetValue(K) < 1) r.AddError($"--k must be at least 1, got {r.GetValue(K)}.");
        if (Given(r, Keep) && r.GetValue(Keep) is var f && !(f > 0 && f <= 1)) r.AddError($"--keep must be in (0, 1], got {CliOptions.F(f)}.");
        if (r.GetValue(Bootstrap) is int nb && nb < 2) r.AddError($"--bootstrap needs at least 2 resamples, got {nb}.");
        if (r.GetValue(Permutations) is int np && np < 2) r.AddError($"--permutations needs at least 2 shuffles, got {np}.");
        if (Given(r, Kernel) && r.GetValue(Kernel) is string k && k is not ("linear" or "rbf")) r.AddError($"--kernel must be linear or rbf, not '{k}'.");
        if (Given(r, SigmaFrac) && r.GetValue(SigmaFrac) is var sf && (!(sf > 0) || !double.IsFinite(sf))) r.AddError($"--sigma-frac must be a positive number, got {CliOptions.F(sf)}.");
        if (Given(r, Method) && r.GetValue(Method) is string m && m is not ("auto" or "full" or "minibatch")) r.AddError($"--method must be auto, full or minibatch, not '{m}'.");
        if (Given(r, BatchSize) && r.GetValue(BatchSize) < 4) r.AddError("--batch-size must be at least 4.");
        if (r.GetValue(MaxSamples) is int ms && ms < 4) r.AddError($"--max-samples must be at least 4, got {ms}.");
        if (Given(r, Shard))
        {
            if (!(model || acts)) r.AddError("--shard is for all layer pairs of one model (--model or --acts-dir).");
            if (r.GetValue(Method) != "minibatch") r.AddError("--shard needs --method minibatch: only minibatch CKA's sums add up across shards.");
            if (!Given(r, Out)) r.AddError($"--shard needs --out DIR: the shard writes its partial sums there ({ShardFiles.Cka}) for 'probe merge'.");
            if (Given(r, MaxSamples)) r.AddError("--shard covers its own slice of the data; drop --max-samples.");
            if (Given(r, Json)) r.AddError("--json applies to the merged result ('probe merge').");
        }
    }

    /// <summary>The measure the options name, with its settings.</summary>
    public SimilarityMeasure Measure(ParseResult p)
    {
        string name = _flavour == SimilarityCommand.Flavour.Cka ? "cka" : p.GetValue(MeasureName) ?? "cka";
        if (name.Trim().ToLowerInvariant() == "cka")
            return new CkaMeasure(new Cka(p.GetValue(Kernel) == "rbf" ? CkaKernel.Rbf : CkaKernel.Linear, p.GetValue(SigmaFrac), p.GetValue(Debiased)) { Device = Models.DeviceOf(p) });
        return SimilarityMeasure.Parse(name, p.GetValue(K), p.GetValue(Keep));
    }

    /// <summary>The layer study the options describe (measures other than CKA: at most <see cref="SimilarityCommand.DefaultMaxSamples"/> samples unless given).</summary>
    public SimilarityStudy Study(ParseResult p, SimilarityMeasure measure) =>
        new(measure, p.GetValue(Layers)!, p.GetValue(Reduce),
            MaxSamples: p.GetValue(MaxSamples) ?? (measure is CkaMeasure ? null : SimilarityCommand.DefaultMaxSamples),
            Seed: p.GetValue(Seed),
            Method: p.GetValue(Method) switch { "full" => CkaStudyMethod.Full, "minibatch" => CkaStudyMethod.Minibatch, _ => CkaStudyMethod.Auto },
            BatchSize: p.GetValue(BatchSize)) { TokenMask = Models.TokenMaskOf(p) };

    /// <summary>Models A and B, their names and the data they run on: two checkpoints of a run, two runs, or two models.</summary>
    public (IActivationSource A, IActivationSource B, string NameA, string NameB, IDataset Data) OpenPair(ParseResult p)
    {
        if (p.GetValue(Run) is string dirA)
        {
            var ra = RunFolder.Load(dirA);
            var rb = p.GetValue(RunB) is string dirB ? RunFolder.Load(dirB) : null;
            var parts = (p.GetValue(Epochs) ?? (rb == null ? "0,final" : "final,final")).Split(',', StringSplitOptions.TrimEntries);
            int ea = Epoch(ra, parts[0]), eb = Epoch(rb ?? ra, parts[1]);
            string nameA = rb == null ? $"epoch {ea}" : $"{Path.GetFileName(ra.Directory)} epoch {ea}";
            string nameB = rb == null ? $"epoch {eb}" : $"{Path.GetFileName(rb.Directory)} epoch {eb}";
            if (rb != null && rb.Info.Model != ra.Info.Model) nameB += $" ({rb.Info.Model})";
            var dataset = p.GetValue(Data) is string ds ? CliOptions.LoadData(ds) : RunData(ra, rb, p.GetValue(Split)!);
            var a = new ModuleSource(ra.BuildModel(ea), ownsModel: true) { Device = Models.DeviceOf(p) };
            var b = new ModuleSource((rb ?? ra).BuildModel(eb), ownsModel: true) { Device = Models.DeviceOf(p) };
            return (a, b, nameA, nameB, dataset);
        }
        int seed = p.GetValue(Seed);
        string specA = p.GetValue(ModelA)!;
        bool random = p.GetValue(Models.RandomWeights);
        var device = Models.DeviceOf(p);
        var sa = ModelLoader.Open(specA, random ? null : p.GetValue(WeightsA), seed, device: device);
        IActivationSource? sb = null;
        try
        {
            sb = ModelLoader.Open(p.GetValue(ModelB) ?? specA, random ? null : p.GetValue(WeightsB), seed, device: device);
            var data = CliOptions.OpenData(p.GetValue(Data)!);
            CliOptions.CheckLayout(sa, data, specA);
            var (nameA, nameB) = PairNames(specA, random ? null : p.GetValue(WeightsA), p.GetValue(ModelB) ?? specA, random ? null : p.GetValue(WeightsB));
            return (sa, sb, nameA, nameB, data);
        }
        catch
        {
            sa.Dispose();
            sb?.Dispose();
            throw;
        }
    }

    /// <summary>
    /// The names of models A and B in tables, figures and JSON: each weights file's name without its extension, or
    /// without weights the model's (an ONNX file's name, or the spec); two names that are the same (seed0/model.pt and
    /// seed1/model.pt) get their folders' names in front, and failing that " (A)" and " (B)".
    /// </summary>
    internal static (string A, string B) PairNames(string modelA, string? weightsA, string modelB, string? weightsB)
    {
        static string PathOf(string model, string? weights) =>
            weights ?? (File.Exists(model) || Directory.Exists(model) ? model : "");
        static string Name(string model, string? weights) =>
            PathOf(model, weights) is { Length: > 0 } path ? Path.GetFileNameWithoutExtension(Path.TrimEndingDirectorySeparator(path)) : model;
        static string WithFolder(string model, string? weights)
        {
            string path = PathOf(model, weights);
            if (path.Length == 0) return model;
            string? folder = Path.GetFileName(Path.GetDirectoryName(Path.GetFullPath(Path.TrimEndingDirectorySeparator(path))));
            return string.IsNullOrEmpty(folder) ? Name(model, weights) : folder + "/" + Name(model, weights);
        }
        string a = Name(modelA, weightsA), b = Name(modelB, weightsB);
        if (a != b) return (a, b);
        (a, b) = (WithFolder(modelA, weightsA), WithFolder(modelB, weightsB));
        return a != b ? (a, b) : (a + " (A)", b + " (B)");
    }

    private static int Epoch(RunFolder run, string text)
    {
        if (text is "final" or "last") return run.Checkpoints.Count > 0 ? run.Checkpoints[^1].Epoch : throw new ProbeException($"Run '{run.Directory}' has no checkpoints.");
        if (!int.TryParse(text, NumberStyles.Integer, CultureInfo.InvariantCulture, out int e))
            throw new ProbeException($"--epochs: '{text}' is neither a number nor 'final'.");
        run.Checkpoint(e);
        return e;
    }

    /// <summary>
    /// The run's data set restricted to its test split (or train rows, or all); with a second run (trained on the same
    /// data, split with another seed perhaps), the rows both runs held out (or both trained on).
    /// </summary>
    private static Dataset RunData(RunFolder run, RunFolder? other, string split)
    {
        var all = CliOptions.LoadData(run.Info.Data);
        if (all.Count != run.Info.Split.Samples)
            throw new ProbeException($"Run '{run.Directory}' was trained on {run.Info.Split.Samples} samples of '{run.Info.Data}', which now has {all.Count}; pass --data.");
        if (other != null && (other.Info.Data != run.Info.Data || other.Info.Split.Samples != run.Info.Split.Samples))
            throw new ProbeException($"Run '{other.Directory}' was trained on '{other.Info.Data}' ({other.Info.Split.Samples} samples), run '{run.Directory}' on '{run.Info.Data}' ({run.Info.Split.Samples}): their splits do not share rows; pass --data.");
        if (split == "all") return all;
        int[] Rows(RunFolder r) => split == "test" ? r.Info.Split.TestIndices : r.TrainIndices;
        var rows = other == null ? Rows(run) : Rows(run).Intersect(Rows(other)).ToArray();
        string what = split == "test" ? "held out" : "trained on";
        string name = all.Name + (other == null ? $" ({split} split)" : $" ({split} split: rows both runs {what})");
        if (rows.Length < 4)
            throw new ProbeException($"Only {rows.Length} rows are {(other == null ? $"in run '{run.Directory}''s {split} split" : $"{what} by both runs")}; use --split all or --data.");
        return all.Subset(rows, name);
    }
}
