using System.CommandLine;
using Probe.Capture;
using Probe.Data;
using Probe.Projection;
using Probe.Reporting;
using Probe.Reporting.Sections;

namespace Probe.Cli.Commands;

/// <summary><c>probe project</c>: a 2-D PCA or t-SNE of an activation matrix, written as .npy or as a figure.</summary>
internal static class ProjectCommand
{
    public static Command Create(CliContext ctx)
    {
        var method = new Option<string>("--method") { Description = "pca or tsne.", DefaultValueFactory = _ => "pca" };
        method.AcceptOnlyFromAmong("pca", "tsne");
        var acts = CliOptions.InputFile("--acts", "An .npy matrix (samples x features), e.g. written by 'probe capture'.");
        acts.Required = true;
        var labels = CliOptions.InputFile("--labels", "An .npy vector of integer class labels (colours the figure).");
        var perplexity = new Option<double>("--perplexity") { Description = "t-SNE perplexity.", DefaultValueFactory = _ => 30 }.AtLeast(double.Epsilon);
        var iterations = new Option<int>("--iterations") { Description = "t-SNE iterations.", DefaultValueFactory = _ => 750 }.AtLeast(1);
        var seed = CliOptions.Seed();
        var maxSamples = CliOptions.MaxSamples();
        var json = CliOptions.Json();
        var title = new Option<string?>("--title") { Description = "Figure title." };
        var outPath = CliOptions.Out(required: true, "Output: emb.npy (n x 2 float32), or a figure fig.png|fig.svg|fig.pdf.");
        var qualitySamples = CliOptions.QualitySamples("trustworthiness (k=10)");
        var tsneMethod = new Option<string>("--tsne-method") { Description = "t-SNE repulsion: auto (exact below 600 rows, Barnes-Hut above; the faster here at 20k and 70k rows), exact, barnes-hut or fft (FFT-accelerated interpolation, Linderman et al. 2019).", DefaultValueFactory = _ => "auto" };
        tsneMethod.AcceptOnlyFromAmong("auto", "exact", "barnes-hut", "fft");
        var timings = new Option<bool>("--timings") { Description = "Print the time of each stage on stderr." };
        var device = CliOptions.Device();
        device.Description = "Where PCA's large products and randomized solver run: auto, cpu, cuda or cuda:N (default cpu). t-SNE runs on the CPU.";
        var fig = new FigureOptions();
        var cmd = new Command("project", "Project an activation matrix to 2-D with PCA or t-SNE; write the embedding or a scatter figure.")
            { method, acts, labels, perplexity, iterations, seed, maxSamples, qualitySamples, tsneMethod, timings, device, title, json, outPath };
        fig.AddTo(cmd);
        cmd.Validators.Add(r =>
        {
            string? o = r.GetValue(outPath);
            if (o != null && !FigureOptions.IsFigure(o) && !o.EndsWith(".npy", StringComparison.OrdinalIgnoreCase))
                r.AddError($"--out must end in .npy, .png, .svg or .pdf, not '{o}'.");
            if (r.GetValue(method) == "tsne" && CliOptions.AsksForGpu(r, device))
                r.AddError($"--device {r.GetValue(device)}: t-SNE runs on the CPU (only --method pca has a GPU path). Drop --device.");
        });
        cmd.SetAction(p =>
        {
            var clock = System.Diagnostics.Stopwatch.StartNew();
            bool showTimings = p.GetValue(timings);
            void Stage(string what, double seconds) { if (showTimings) ctx.Err.WriteLine(CliOptions.F(seconds, "F2").PadLeft(8) + " s  " + what); }
            string actsPath = p.GetValue(acts)!;
            var x = Npy.ReadMatrix(actsPath);
            int[]? y = null;
            if (p.GetValue(labels) is string lp)
            {
                y = Npy.ReadInt32(lp);
                if (y.Length != x.Rows) throw new ProbeException($"'{lp}' has {y.Length} labels but '{actsPath}' has {x.Rows} rows.");
                if (y.Any(v => v < 0)) throw new ProbeException($"Labels in '{lp}' must be 0 or greater.");
            }
            int s = p.GetValue(seed);
            var rows = SampleChooser.Choose(x.Rows, p.GetValue(maxSamples), s);
            if (rows.Length < x.Rows) { x = x.SelectRows(rows); if (y != null) y = rows.Select(i => y[i]).ToArray(); }
            x.EnsureNotEmpty($"'{actsPath}'").EnsureFinite($"'{actsPath}'");

            Stage($"read {x.Rows} x {x.Cols}", clock.Elapsed.TotalSeconds);
            bool tsne = p.GetValue(method) == "tsne";
            Matrix emb;
            double[]? ratio = null;
            double? kl = null;
            if (tsne)
            {
                var r = new Tsne(Perplexity: p.GetValue(perplexity), Iterations: p.GetValue(iterations), Seed: s,
                    Method: p.GetValue(tsneMethod) switch { "exact" => TsneMethod.Exact, "barnes-hut" => TsneMethod.BarnesHut, "fft" => TsneMethod.Fft, _ => TsneMethod.Auto })
                    { Cancellation = ctx.Cancel, Progress = ctx.Report("t-SNE iterations") }.Run(x, out var t);
                emb = r.Embedding; kl = r.KlDivergence;
                Stage("t-SNE PCA reduction", t.PcaSeconds);
                Stage("t-SNE nearest neighbours", t.KnnSeconds);
                Stage("t-SNE affinities (after kNN)", t.AffinitySeconds - t.KnnSeconds - t.PcaSeconds);
                Stage("t-SNE initialisation", t.InitSeconds);
                Stage($"t-SNE optimisation ({r.Method}; tree {CliOptions.F(t.TreeSeconds, "F2")} s, forces {CliOptions.F(t.ForceSeconds, "F2")} s: attraction {CliOptions.F(t.AttractionThreadSeconds, "F2")}, repulsion {CliOptions.F(t.RepulsionThreadSeconds, "F2")} thread-s)", t.OptimizeSeconds);
            }
            else
            {
                if (x.Cols < 2) throw new ProbeException($"PCA to 2-D needs at least 2 features; '{actsPath}' has {x.Cols}.");
                var fit = new Pca(2, PcaSolver.Auto, s) { Device = CliOptions.DeviceOf(p, device) }.Fit(x);
                emb = fit.Transform(x); ratio = fit.ExplainedVarianceRatio;
            }
            int qs = p.GetValue(qualitySamples);
            double tq = clock.Elapsed.TotalSeconds;
            TrustworthinessScore? trust = qs > 0 && Math.Min(qs, x.Rows) > 22 ? SampledTrustworthiness.Compute(x, emb, 10, qs, s) : null;
            if (trust != null) Stage($"trustworthiness ({trust.Describe()})", clock.Elapsed.TotalSeconds - tq);

            ctx.Cancel.ThrowIfCancellationRequested();
            string o = p.GetValue(outPath)!;
            // Written under a temporary name and renamed when complete: Ctrl-C leaves no partial file.
            using var staged = ctx.Stage(o, folder: false);
            if (FigureOptions.IsFigure(o))
            {
                var basis = fig.Style(p, FigureStyle.Column with { HeightInches = 3.0 });
                int classCount = y == null || y.Length == 0 ? 1 : y.Max() + 1;
                string[] names = y == null ? ["samples"]
                    : CaptureClassNames(p.GetValue(labels)!) is { } known && known.Length >= classCount ? known[..classCount]
                    : EvolutionFigures.DefaultClassNames(classCount);
                var model = Figures.Scatter(emb, y ?? new int[x.Rows], names,
                    p.GetValue(title), tsne ? "t-SNE 1" : $"PC1 ({CliOptions.F(100 * ratio![0], "0.#")}%)",
                    tsne ? "t-SNE 2" : $"PC2 ({CliOptions.F(100 * ratio![1], "0.#")}%)", equalAspect: true, style: basis);
                FigureExporter.Save(model, staged.Path, basis);
            }
            else Npy.Write(staged.Path, emb);
            staged.Commit();
            Stage("total", clock.Elapsed.TotalSeconds);

            if (p.GetValue(json))
                ctx.Out.WriteLine(JsonOutput.Serialize(new { method = tsne ? "tsne" : "pca", samples = x.Rows, features = x.Cols, explainedVarianceRatio = ratio, klDivergence = kl, trustworthiness = trust?.Value,
                    quality = trust == null ? null : new { k = trust.K, rows = trust.Rows, totalRows = trust.TotalRows, seed = trust.Seed }, output = o }));
            else
            {
                string what = tsne ? $"KL {CliOptions.F(kl!.Value, "F4")}" : $"explained variance PC1 {CliOptions.F(ratio![0], "F4")}, PC2 {CliOptions.F(ratio[1], "F4")}";
                ctx.Out.WriteLine($"{(tsne ? "t-SNE" : "PCA")} of {x.Rows} x {x.Cols}: {what}" + (trust is { } tw ? $", trustworthiness {CliOptions.F(tw.Value, "F4")} ({tw.Describe()})" : ""));
                ctx.Out.WriteLine($"Wrote {o}");
            }
            return ExitCodes.Ok;
        });
        return cmd;
    }

    /// <summary>
    /// The class names of a labels.npy written by <c>probe capture</c>: its layers.json beside it records the data's class
    /// names (index = label). Null for any other labels file.
    /// </summary>
    internal static string[]? CaptureClassNames(string labelsPath)
    {
        if (!Path.GetFileName(labelsPath).Equals(NpySink.LabelsFile, StringComparison.Ordinal)) return null;
        try { return CaptureManifest.Read(Path.GetDirectoryName(Path.GetFullPath(labelsPath)) ?? ".")?.Classes?.ToArray(); }
        catch (Exception e) when (e is ProbeException or System.Text.Json.JsonException) { return null; }
    }
}
