namespace Probe.Examples.CloudsAndCircles;

internal static class Program
{
    static int Main(string[] args)
    {
        string outDir = args.Length > 0 ? args[0] : "clouds-and-circles";
        var r = CloudsAndCirclesExample.Run(new CloudsSettings(), outDir, Console.Out);
        foreach (var d in r.DataSets) Console.WriteLine($"Wrote {d.EvolutionFigure} and {d.GridWarpFigure}");
        return 0;
    }
}
