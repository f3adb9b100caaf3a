using System.CommandLine;
using Probe.Data;
using Probe.Reporting;
using Probe.Similarity;

namespace Probe.Cli.Commands;

/// <summary>
/// <c>probe similarity --measure M --a X.npy --b Y.npy</c>: one similarity measure between two matrices whose rows are
/// the same samples, with an optional bootstrap interval (<c>--bootstrap N</c>) and permutation null
/// (<c>--permutations N</c>). The model and run modes arrive with the activation-source seam.
/// </summary>
internal static class SimilarityCommand
{
    public static Command Create(CliContext ctx)
    {
        var measure = new Option<string>("--measure") { Description = $"The measure: {string.Join(", ", SimilarityMeasure.Names)}.", Required = true };
        var a = new Option<string>("--a") { Description = "First matrix (.npy, rows = samples).", Required = true };
        var b = new Option<string>("--b") { Description = "Second matrix (.npy, same rows in the same order).", Required = true };
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
            { measure, a, b, k, keep, bootstrap, permutations, seed, json };
        cmd.Validators.Add(r =>
        {
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
