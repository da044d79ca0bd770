# bench/stats.sh: the awk functions the bench scripts' reports share, for
# sourcing: stats_awk goes in front of a report's own awk program,
#
#   awk -F'\t' "$stats_awk"'NR == 1 { next } ...'
#
# median(list), lo(list) and hi(list) take numbers separated by spaces.
# shellcheck disable=SC2034 # used by the scripts that source this file
stats_awk='
function median(list,    a, m, i, j, x) {
	m = split(list, a, " ")
	for (i = 2; i <= m; i++) { x = a[i]; for (j = i - 1; j >= 1 && a[j] > x; j--) a[j + 1] = a[j]; a[j + 1] = x }
	return m % 2 ? a[(m + 1) / 2] : (a[m / 2] + a[m / 2 + 1]) / 2
}
function lo(list,    a, m, i, v) { m = split(list, a, " "); v = a[1]; for (i = 2; i <= m; i++) if (a[i] < v) v = a[i]; return v }
function hi(list,    a, m, i, v) { m = split(list, a, " "); v = a[1]; for (i = 2; i <= m; i++) if (a[i] > v) v = a[i]; return v }
'
