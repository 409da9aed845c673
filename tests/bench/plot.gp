# Draws the benchmark charts from the data files tests/bench writes.
#   gnuplot -e "dir='docs/benchmarks'" tests/bench/plot.gp
if (!exists("dir")) dir = 'docs/benchmarks'

set terminal pngcairo size 1100,1000 font "DejaVu Sans,10" noenhanced
set grid
set key outside right top
set datafile missing "NaN"

runs = "backfill-60-on backfill-60-off backfill-120-on backfill-120-off"
file(r) = sprintf("%s/%s.dat", dir, r)

set output dir.'/backfill.png'
set multiplot layout 3,1 title "Backfill (rate_limit_share 50, page_size 1000)"
set xrange [0:*]
set yrange [0:*]
set ylabel "requests in the last 60 s"
plot for [i=1:4] file(word(runs, i)) using 1:4 with steps lw 2 dt i title word(runs, i), \
     30 with lines lc "red" dt 2 lw 1 title "allowed at 60/min", \
     60 with lines lc "black" dt 2 lw 1 title "allowed at 120/min"
set ylabel "events out per second"
plot for [i=1:4] file(word(runs, i)) using 1:2 with lines lw 1.5 dt i title word(runs, i)
set ylabel "queued MiB"
set xlabel "seconds since the host started"
plot for [i=1:4] file(word(runs, i)) using 1:5 with lines lw 1.5 dt i title word(runs, i)
unset multiplot
unset xlabel

stats dir.'/live.dat' using 1 nooutput
set xrange [0:STATS_max]
set output dir.'/live.png'
set multiplot layout 3,1 title "Live tail (20 events/s, poll_interval 10s)"
set ylabel "lag (s)"
plot dir.'/live-lag.dat' using 1:($3 == 0 ? $2 : NaN) with points pt 7 ps 0.3 title "on time", \
     dir.'/live-lag.dat' using 1:($3 == 1 ? $2 : NaN) with points pt 7 ps 0.6 \
     title "late (AppendLate)"
set ylabel "requests in the last 60 s"
plot dir.'/live.dat' using 1:4 with steps lw 2 title "System Log requests"
set ylabel "events out per second"
set xlabel "seconds since the host started"
plot dir.'/live.dat' using 1:2 with impulses lw 2 title "events"
unset multiplot
unset xlabel

set terminal pngcairo size 1100,700 font "DejaVu Sans,10" noenhanced
set xrange [0:*]
set output dir.'/soak.png'
set multiplot layout 2,1 title "Soak (20 events/s, poll_interval 10s)"
set ylabel "MiB"
plot dir.'/soak-proc.dat' using 1:2 with lines lw 2 title "RSS (VmRSS)", \
     dir.'/soak-proc.dat' using 1:3 with lines lw 2 title "peak RSS (VmHWM)"
set ylabel "threads"
set xlabel "seconds since the host started"
plot dir.'/soak-proc.dat' using 1:4 with steps lw 2 title "Threads"
unset multiplot
