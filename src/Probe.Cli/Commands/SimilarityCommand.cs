using System.CommandLine;
using Probe.Data;
using Probe.Reporting;
using Probe.Similarity;

namespace Probe.Cli.Commands;

/// <summary>
/// <c>probe similarity --measure M --a X.npy --b Y.npy</c>: one similarity measure between two matrices whose rows are
/// the same samples, with an optional bootstrap interval (<c>--bootstrap N</c>) and permutation null
/// (<c>--permutations N</c>); or every pair of a model's layers (<c>--model M --weights W --data DATA</c>) or of a folder of
/// activations (<c>--acts-dir DIR</c>), as a table and heatmap.
/// </summary>
internal static class SimilarityCommand
{
    public static Command Create(CliContext ctx)
    {
        var measure = new Option<string>("--measure") { Description = $"The measure: {string.Join(", ", SimilarityMeasure.Names)}.", Required = true };
        var a = new Option<string?>("--a") { Description = "First matrix (.npy, rows = samples)." };
        var b = new Option<string?>("--b") { Description = "Second matrix (.npy, same rows in the same order)." };
        var models = new ModelOptions();
        var data = CliOptions.Data();
        var layers = new Option<string>("--layers") { Description = "With --model or --acts-dir: the layers to compare (selector).", DefaultValueFactory = _ => "all" };
        var reduce = CliOptions.Reduce();
        var maxSamples = new Option<int>("--max-samples") { Description = "With --model or --acts-dir: compare on at most this many samples, chosen uniformly with the seed (default 2000; RSA and mutual k-NN cost O(n^2)).", DefaultValueFactory = _ => 2000 };
        var outDir = new Option<string?>("--out") { Description = "With --model or --acts-dir: folder for similarity.json and the heatmap (PNG and SVG)." };
        var k = new Option<int>("--k") { Description = $"mutual-knn: neighbours per sample (default {MutualKnnMeasure.DefaultK}).", DefaultValueFactory = _ => MutualKnnMeasure.DefaultK };
        var keep = new Option<double>("--keep") { Description = $"svcca: fraction of the variance each side keeps (default {SvccaMeasure.DefaultKeep}).", DefaultValueFactory = _ => SvccaMeasure.DefaultKeep };
        var bootstrap = new Option<int?>("--bootstrap") { Description = "Add a 95% bootstrap interval from this many resamples of the rows (seeded)." };
        var permutations = new Option<int?>("--permutations") { Description = "Add a permutation null from this many shuffles of the second matrix's rows (seeded)." };
        var seed = CliOptions.Seed();
        var json = CliOptions.Json();
        var cmd = new Command("similarity",
            "A similarity measure between two representations of the same samples: probe similarity --measure " +
            string.Join("|", SimilarityMeasure.Names) + " --a X.npy --b Y.npy [--k 10] [--keep 0.99] [--bootstrap N] [--permutations N] [--seed S] [--json]. " +
            "linreg is the R^2 of predicting --b from --a; pwcca weights by the side with fewer columns.")
            { measure, a, b, data, layers, reduce, maxSamples, outDir, k, keep, bootstrap, permutations, seed, json };
        models.AddTo(cmd);
        var fig = new FigureOptions(); fig.AddTo(cmd);
        cmd.Validators.Add(r =>
        {
            bool pair = r.GetResult(a) != null || r.GetResult(b) != null, model = models.HasModel(r), acts = models.HasActsDir(r);
            if ((pair ? 1 : 0) + (model ? 1 : 0) + (acts ? 1 : 0) != 1) r.AddError("Give --a X.npy --b Y.npy, or --model M --weights W --data DATA, or --acts-dir DIR.");
            else if (pair && (r.GetResult(a) == null || r.GetResult(b) == null)) r.AddError("Give both --a and --b (two matrices with the same rows).");
            if (model && r.GetResult(data) == null) r.AddError("--model needs --data DATA.");
            if (!pair && (r.GetResult(bootstrap) != null || r.GetResult(permutations) != null)) r.AddError("--bootstrap and --permutations apply to two matrices (--a/--b).");
            if (r.GetResult(maxSamples) != null && r.GetValue(maxSamples) < 4) r.AddError($"--max-samples must be at least 4, got {r.GetValue(maxSamples)}.");
            models.Validate(r);
            if (r.GetValue(measure) is string m && !SimilarityMeasure.Names.Contains(m.Trim().ToLowerInvariant()))
                r.AddError($"Unknown --measure '{m}'. Known measures: {string.Join(", ", SimilarityMeasure.Names)}.");
            if (r.GetResult(k) != null && r.GetValue(k) < 1) r.AddError($"--k must be at least 1, got {r.GetValue(k)}.");
            if (r.GetResult(keep) != null && r.GetValue(keep) is var f && !(f > 0 && f <= 1)) r.AddError($"--keep must be in (0, 1], got {CliOptions.F(f)}.");
            if (r.GetValue(bootstrap) is int nb && nb < 2) r.AddError($"--bootstrap needs at least 2 resamples, got {nb}.");
            if (r.GetValue(permutations) is int np && np < 2) r.AddError($"--permutations needs at least 2 shuffles, got {np}.");
        });
        cmd.SetAction(p =>
        {
            var m = SimilarityMeasure.Parse(p.GetValue(measure)!, p.GetValue(k), p.GetValue(keep));
            if (p.GetValue(a) is null)
            {
                var (source, dataset) = models.OpenWithData(p, p.GetValue(data), p.GetValue(seed));
                using var _s = source;
                using var _d = dataset as IDisposable;
                var acts = new Probe.Capture.ActivationCapture(new Probe.Capture.LayerSelector(p.GetValue(layers)!), p.GetValue(reduce))
                    .ToMemory(source, dataset, p.GetValue(maxSamples), p.GetValue(seed));
                var table = m.AllPairs(acts.LayerNames.Select(n => (n, acts[n])).ToList());
                var doc = new { measure = m.Name, description = m.Description, samples = acts.SampleIndices.Length, seed = p.GetValue(seed), rows = table.RowLayers, columns = table.ColLayers, values = table.Values };
                if (p.GetValue(outDir) is string dir)
                {
                    Directory.CreateDirectory(dir);
                    JsonOutput.Write(Path.Combine(dir, "similarity.json"), doc, "similarity.json");
                    Probe.Reporting.Sections.SimilarityFigures.Save(table, Path.Combine(dir, "similarity"), $"{m.Description}, {acts.SampleIndices.Length} samples", "layer", "layer", fig.Settings(p));
                }
                if (p.GetValue(json)) { ctx.Out.WriteLine(JsonOutput.Serialize(doc, "similarity")); return ExitCodes.Ok; }
                ctx.Out.WriteLine($"{m.Description}; {acts.SampleIndices.Length} samples");
                ctx.Out.Write(TextTable.Render(new[] { "" }.Concat(table.ColLayers).ToArray(),
                    table.RowLayers.Select((r, i) => (IReadOnlyList<string>)new[] { r }.Concat(table.Values[i].Select(v => CliOptions.F(v, "0.000"))).ToArray())));
                if (p.GetValue(outDir) is string d) ctx.Out.WriteLine($"Wrote similarity.json, similarity.png and similarity.svg to {d}");
                return ExitCodes.Ok;
            }
            string pa = p.GetValue(a)!, pb = p.GetValue(b)!;
            var x = Npy.ReadMatrix(pa);
            var y = Npy.ReadMatrix(pb);
            int s = p.GetValue(seed);
            var score = m.Compute(x, y);
            var ci = p.GetValue(bootstrap) is int nb ? new SimilarityBootstrap(nb, s).Run(m, x, y) : null;
            var perm = p.GetValue(permutations) is int np ? new SimilarityPermutationTest(np, s).Run(m, x, y) : null;
            if (p.GetValue(json))
            {
                ctx.Out.WriteLine(JsonOutput.Serialize(new
                {
                    measure = m.Name,
                    description = m.Description,
                    value = score.Value,
                    details = score.Details.Count == 0 ? null : score.Details,
                    samples = x.Rows,
                    a = new { path = pa, x.Cols },
                    b = new { path = pb, y.Cols },
                    k = m is MutualKnnMeasure mk ? mk.K : (int?)null,
                    keep = m is SvccaMeasure sv ? sv.Keep : (double?)null,
                    seed = ci != null || perm != null ? s : (int?)null,
                    bootstrap = ci == null ? null : new { ci.Replicates, ci.Level, ci.Low, ci.High, ci.Mean, ci.StandardError, ci.Bias },
                    permutation = perm == null ? null : new { perm.Permutations, perm.Mean, perm.StandardDeviation, perm.Low, perm.High, perm.PValue },
                }, "similarity"));
                return ExitCodes.Ok;
            }
            string extra = score.Details.Count == 0 ? "" :
                "  (" + string.Join(", ", score.Details.Where(d => d.Key != "similarity").Select(d => $"{d.Key} {CliOptions.F(d.Value, "0.######")}")) + ")";
            ctx.Out.WriteLine($"{m.Description}: {CliOptions.F(score.Value, "0.######")}{extra}  ({x.Rows} samples, {x.Cols} vs {y.Cols} features)");
            if (ci != null)
                ctx.Out.WriteLine($"  {CliOptions.F(ci.Level * 100, "0.#")}% bootstrap interval ({ci.Replicates} resamples, seed {s}): [{CliOptions.F(ci.Low, "0.######")}, {CliOptions.F(ci.High, "0.######")}], bias {CliOptions.F(ci.Bias, "0.######")}");
            if (perm != null)
                ctx.Out.WriteLine($"  permutation null ({perm.Permutations} shuffles, seed {s}): mean {CliOptions.F(perm.Mean, "0.######")}, 95% of it in [{CliOptions.F(perm.Low, "0.######")}, {CliOptions.F(perm.High, "0.######")}], p = {CliOptions.F(perm.PValue, "0.####")}");
            return ExitCodes.Ok;
        });
        return cmd;
    }
}
