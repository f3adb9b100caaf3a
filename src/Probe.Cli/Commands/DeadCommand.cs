using System.CommandLine;
using System.Globalization;
using Probe.Analysis;
using Probe.Capture;
using Probe.Data;
using Probe.Models;
using Probe.Reporting;
using Probe.Reporting.Sections;

namespace Probe.Cli.Commands;

/// <summary>
/// <c>probe dead</c>: which units never fire, how many, why, and (with --run) since when. Default layers: the
/// activation layers (ReLU-like, sigmoid, tanh); every leaf when the model has none. Exit 3 with --fail-above.
/// </summary>
internal static class DeadCommand
{
    public const string Section = "Dead units";

    public static Command Create(CliContext ctx)
    {
        var models = new ModelOptions();
        var run = CliOptions.Run();
        var data = CliOptions.OptionalData("Data source (with --run, defaults to the run's data): " + CliOptions.DataKinds + ".");
        var layers = new Option<string?>("--layers") { Description = "Layer selector (names, globs, type:ReLU, all). Default: the activation layers." };
        var json = CliOptions.Json();
        var failAbove = new Option<double?>("--fail-above")
        {
            Description = "Exit with code 3 when any selected layer's dead fraction is above this fraction (0..1).",
            CustomParser = r => Fraction(r, "--fail-above"),
        };
        var outDir = CliOptions.Out(required: false, "Also write a report folder (figures, report.json, index.html).");
        var dying = new Option<double>("--dying-threshold")
        {
            Description = "A unit firing on fewer than this fraction of samples is dying.",
            DefaultValueFactory = _ => 0.01,
            CustomParser = r => Fraction(r, "--dying-threshold") ?? 0.01,
        };
        var epsilon = new Option<double>("--epsilon")
        {
            Description = "Also count the values within this distance of 0 (epsilon sparsity: a line under the table, epsilonSparsity in --json). 0, the default, counts exact zeros.",
            DefaultValueFactory = _ => 0,
            CustomParser = r =>
            {
                string v = r.Tokens.Count > 0 ? r.Tokens[0].Value : "";
                if (double.TryParse(v, NumberStyles.Float, CultureInfo.InvariantCulture, out var e) && e >= 0 && double.IsFinite(e)) return e;
                r.AddError($"--epsilon must be a finite number >= 0, got '{v}'.");
                return 0;
            },
        };
        var maxSamples = CliOptions.MaxSamples();
        var seed = CliOptions.Seed();
        var batch = CliOptions.BatchSize();
        var force = new Option<bool>("--force") { Description = "Replace --out even when it is not an earlier report folder." };
        var split = new Option<string?>("--split")
        {
            Description = "With --run (without --data): judge units on the run's train rows, its held-out test rows, or all rows (the default). A unit dead on the rows it trained on may fire on held-out ones.",
        };
        var cmd = new Command("dead", "Find dead and dying units per layer, explain why they are dead, and (with --run) when they died.")
            { run, data, layers, json, failAbove, outDir, dying, epsilon, maxSamples, seed, batch, force, split };
        var shard = ShardFiles.Option();
        cmd.Add(shard);
        models.AddTo(cmd);
        var fig = new FigureOptions(); fig.AddTo(cmd);
        cmd.Validators.Add(r =>
        {
            bool hasModel = models.HasModel(r), hasRun = r.GetResult(run) != null, hasActs = models.HasActsDir(r);
            if ((hasModel ? 1 : 0) + (hasRun ? 1 : 0) + (hasActs ? 1 : 0) != 1)
                r.AddError("Give exactly one of --model (with --weights and --data), --run, or --acts-dir.");
            else if (hasRun && (r.GetResult(models.Weights) != null || r.GetResult(models.RandomWeights) != null))
                r.AddError("--weights cannot be used with --run (the run's checkpoints are used).");
            if (hasModel && r.GetResult(data) == null) r.AddError("--model needs --data DATA.");
            if (r.GetResult(split) != null)
            {
                if (r.GetValue(split) is not ("train" or "test" or "all")) r.AddError($"--split must be train, test or all, not '{r.GetValue(split)}'.");
                else if (!hasRun) r.AddError("--split picks rows of a run's own data: it needs --run.");
                else if (r.GetResult(data) != null) r.AddError("--split picks rows of the run's own data; with --data all of that data is used. Drop --split or --data.");
            }
            if (hasActs && r.GetResult(data) != null) r.AddError("--acts-dir holds its own samples; drop --data.");
            if (hasActs) models.RejectDeviceWithoutModel(r, "--acts-dir");
            models.Validate(r);
            if (r.GetResult(shard) != null)
            {
                if (hasRun) r.AddError("--shard splits the data of one model (--model or --acts-dir), not a run's checkpoints.");
                if (r.GetResult(outDir) == null) r.AddError($"--shard needs --out DIR: the shard writes its partial state there ({ShardFiles.Dead}) for 'probe merge'.");
                if (r.GetResult(maxSamples) != null) r.AddError("--shard covers its own slice of the data; drop --max-samples.");
                if (r.GetResult(failAbove) != null || r.GetResult(json) != null) r.AddError("--fail-above and --json apply to the merged result ('probe merge').");
            }
            // The report replaces its whole folder: refuse one that holds anything else before the study runs.
            // (A shard only adds its partial state to --out.)
            else if (r.GetValue(outDir) is string dir && CliOptions.Writable(dir) == null)
            {
                try { ReportFolder.CheckReplaceable(dir, r.GetValue(force)); }
                catch (ProbeException e) { r.AddError(e.Message); }
            }
        });
        cmd.SetAction(p =>
        {
            var study = new DeadUnitStudy(p.GetValue(layers) is string l ? new LayerSelector(l) : null, p.GetValue(dying), p.GetValue(epsilon), BatchSize: p.GetValue(batch))
            {
                Cancellation = ctx.Cancel,
                Progress = ctx.Report("dead units"),
                Device = models.DeviceOf(p),
                TokenMask = models.TokenMaskOf(p),
            };
            if (p.GetValue(shard) is string shardText)
            {
                var part = Shard.Parse(shardText);
                var (source, all) = models.OpenWithData(p, p.GetValue(data), p.GetValue(seed));
                using var _s = source;
                using var _a = all as IDisposable;
                var (start, count) = part.Range(all.Count, p.GetValue(batch));
                var partial = study.Collect(source, part.Slice(all, p.GetValue(batch)));
                string partDir = p.GetValue(outDir)!;
                ShardFiles.Write(partDir, ShardFiles.Dead, part, start, count, all.Count, p.GetValue(data) ?? p.GetValue(models.ActsDir)!, partial, p);
                ctx.Out.WriteLine($"Shard {part}: samples {start}..{start + count - 1} of {all.Count}; partial state written to {Path.Combine(partDir, ShardFiles.Dead)} (combine the shards with 'probe merge').");
                return ExitCodes.Ok;
            }
            DeadUnitStudyResult result;
            DeadUnitTimelineResult? timeline = null;
            string title;
            if (p.GetValue(run) is string runDir)
            {
                var folder = RunFolder.Load(runDir);
                var opened = CliOptions.OpenData(p.GetValue(data) ?? folder.Info.Data);
                using var _d = opened as IDisposable;
                var rows = opened;
                string part = p.GetValue(split) is "train" or "test" ? p.GetValue(split)! : "all";
                if (part != "all")
                {
                    if (opened.Count != folder.Info.Split.Samples)
                        throw new ProbeException($"Run '{folder.Directory}' was trained on {folder.Info.Split.Samples} samples of '{folder.Info.Data}', which now has {opened.Count}: its {part} rows are not known.");
                    var picked = part == "test" ? folder.Info.Split.TestIndices : folder.TrainIndices;
                    if (picked.Length == 0) throw new ProbeException($"Run '{folder.Directory}' has no {part} rows; use --split all.");
                    rows = opened.Subset(picked, $"{opened.Name} ({part} split)");
                }
                var dataset = Cap(rows, p.GetValue(maxSamples), p.GetValue(seed));
                // One bar over every checkpoint's batches: checkpoint i of n moves it from i/n to (i+1)/n.
                int count = folder.Checkpoints.Count, current = 0;
                Action<int, int> report = (done, total) => ctx.Report($"dead units ({count} checkpoints)", current, count)(done, total);
                timeline = (study with { Progress = report }).RunCheckpoints(folder, dataset, epoch => current = folder.Checkpoints.Count(c => c.Epoch < epoch));
                result = timeline.Final;
                title = $"Dead units of run {Path.GetFileName(folder.Directory)} ({folder.Info.Model}), final epoch {timeline.Epochs[^1]}{(part == "all" ? "" : $", on its {part} rows")}";
            }
            else
            {
                var (source, dataset) = models.OpenWithData(p, p.GetValue(data), p.GetValue(seed));
                using var _s = source;
                using var _d = dataset as IDisposable;
                result = study.Run(source, Cap(dataset, p.GetValue(maxSamples), p.GetValue(seed)));
                title = $"Dead units of {models.Title(p)}";
            }

            if (p.GetValue(json)) ctx.Out.WriteLine(JsonOutput.Serialize(DeadUnitFigures.Json(result, timeline), "the dead-unit result"));
            else Print(ctx.Out, title, result, timeline);

            if (p.GetValue(outDir) is string dir)
            {
                // Refused before the study by the validator above; Write checks again before it replaces the folder.
                using var report = new ReportFolder(dir, title) { FigureSettings = fig.Settings(p), ReplaceAnyFolder = p.GetValue(force) };
                using var pending = ProbeCli.Pending(report.WorkingDirectory);
                DeadUnitFigures.AddTo(report, Section, result, timeline);
                string index = report.Write();
                (p.GetValue(json) ? ctx.Err : ctx.Out).WriteLine($"Report written to {index}");
            }

            if (p.GetValue(failAbove) is double threshold)
            {
                var over = result.Layers.Where(x => x.Stats.DeadFraction > threshold).ToList();
                if (over.Count > 0)
                {
                    ctx.Err.WriteLine(FormattableString.Invariant($"probe: dead fraction above {threshold} in {over.Count} layer(s): ")
                        + string.Join(", ", over.Select(x => FormattableString.Invariant($"{x.Layer} ({x.Stats.DeadUnits.Length}/{x.Stats.Units} = {x.Stats.DeadFraction:0.####})"))));
                    return ExitCodes.ThresholdExceeded;
                }
            }
            return ExitCodes.Ok;
        });
        return cmd;
    }

    private static double? Fraction(System.CommandLine.Parsing.ArgumentResult r, string name)
    {
        string v = r.Tokens.Count > 0 ? r.Tokens[0].Value : "";
        if (double.TryParse(v, NumberStyles.Float, CultureInfo.InvariantCulture, out var f) && f >= 0 && f <= 1) return f;
        r.AddError($"{name} must be a fraction between 0 and 1, got '{v}'.");
        return null;
    }

    private static Probe.Data.IDataset Cap(Probe.Data.IDataset d, int? max, int seed) =>
        max is int m ? d.Subset(SampleChooser.Choose(d.Count, m, seed)) : d;

    internal static void Print(TextWriter o, string title, DeadUnitStudyResult result, DeadUnitTimelineResult? timeline)
    {
        o.WriteLine($"{title}; {result.Samples} samples");
        o.Write(DeadUnitFigures.ConsoleTable(result));
        if (result.Layers.FirstOrDefault(l => l.Stats.Epsilon > 0) is { } withEpsilon)
            o.WriteLine($"Values within {withEpsilon.Stats.Epsilon.ToString("R", CultureInfo.InvariantCulture)} of 0: " + string.Join(", ",
                result.Layers.Select(l => $"{l.Layer} {(l.Reduced == null ? TextTable.Cell(l.Stats.EpsilonSparsity) : "n/a")}")));
        foreach (var l in result.Layers.Where(l => l.ReductionNote != null))
            o.WriteLine($"{l.Layer}: {l.ReductionNote}.");
        foreach (var l in result.Layers.Where(l => l.ActivationNote != null))
            o.WriteLine($"{l.Layer}: {l.ActivationNote}.");
        foreach (var why in result.LeftOut) o.WriteLine("Left out: " + why);
        var noted = new Dictionary<string, string>(StringComparer.Ordinal);   // a reason given in full once, then referred to
        foreach (var l in result.Layers.Where(l => l.Stats.DeadUnits.Length > 0))
        {
            o.WriteLine($"{l.Layer}: dead units {Indices(l.Stats.DeadUnits)}");
            if (l.CauseNote is { } why)
            {
                o.WriteLine(noted.TryGetValue(why, out var first) ? $"  causes not computed, as for {first}" : $"  causes not computed: {why}");
                noted.TryAdd(why, l.Layer);
                // What was read all the same: how far from firing each dead unit stayed.
                if (l.Causes.Length == 0 && l.MaxPreActivation is { } pre)
                    o.WriteLine("  largest pre-activations: " + string.Join(", ", l.Stats.DeadUnits.Take(8).Select(u => FormattableString.Invariant($"unit {u} {pre[u]:G4}")))
                        + (l.Stats.DeadUnits.Length > 8 ? $", ... {l.Stats.DeadUnits.Length - 8} more (see --json)" : ""));
            }
            foreach (var c in l.Causes.Take(5)) o.WriteLine("  " + c.Explanation);
            if (l.Causes.Length > 5) o.WriteLine($"  ... {l.Causes.Length - 5} more (see --json)");
        }
        foreach (var l in result.Layers.Where(l => l.Stats.DyingUnits.Length > 0))
            o.WriteLine($"{l.Layer}: dying units {Indices(l.Stats.DyingUnits)}");
        foreach (var l in result.Layers.Where(l => l.Stats.SaturatedUnits.Length > 0))
            o.WriteLine($"{l.Layer}: saturated units {Indices(l.Stats.SaturatedUnits)}");
        if (timeline != null)
        {
            o.WriteLine($"Across {timeline.Epochs.Length} checkpoints (epochs {timeline.Epochs[0]}..{timeline.Epochs[^1]}):");
            o.Write(TextTable.Render(["layer", "dead at start", "dead at end", "dead from init", "died in training", "revived"],
                timeline.Layers.Select(t => (IReadOnlyList<string>)new[]
                {
                    t.Layer, TextTable.Cell(t.DeadFraction[0]), TextTable.Cell(t.DeadFraction[^1]), TextTable.Cell(t.DeadFromInitialisation),
                    TextTable.Cell(t.DiedInTraining), TextTable.Cell(t.Deaths.Count(d => d.Revivals > 0)),
                })));
            // Since which checkpoint each unit dead at the end has been dead, and which units came back after dying.
            foreach (var t in timeline.Layers)
            {
                var since = t.Deaths.Where(d => d.DeadAtEnd).GroupBy(d => d.DiedAtEpoch!.Value).OrderBy(g => g.Key)
                    .Select(g => $"since epoch {g.Key}{(g.Key == timeline.Epochs[0] ? " (the first checkpoint)" : "")}: {Indices(g.Select(d => d.Unit).ToArray())}").ToList();
                var revived = t.Deaths.Where(d => d.Revivals > 0).Select(d => d.Unit).ToArray();
                if (since.Count == 0 && revived.Length == 0) continue;
                o.WriteLine($"{t.Layer}: " + (since.Count > 0 ? "dead " + string.Join("; ", since) : "no unit dead at the end")
                    + (revived.Length > 0 ? $"; revived after being dead: {Indices(revived)}" : ""));
            }
        }
    }

    private static string Indices(int[] units) =>
        units.Length <= 24 ? string.Join(" ", units) : string.Join(" ", units.Take(24)) + $" ... ({units.Length} in all)";
}
